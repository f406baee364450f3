"""Trainer whose training steps and learning rate can change per run.

Knobs (components.knobs): `train_steps` goes into `train_args.num_steps`,
which the run_fn reads as `fn_args.train_steps` (its only path);
`learning_rate` into the custom_config the run_fn reads its other settings
from; `code_version` keys TFX's cache on the trainer's code. What comes from the
data (image height, width and channels, class names) is read from the Examples
artifact at run time (components.data_properties) and added to custom_config,
never set when the pipeline is built: on Kubeflow `data` is a run parameter.
Then TFX's GenericExecutor runs `trainer.task.run_fn`.
"""

from __future__ import annotations

from tfx.components.trainer import component as tfx_component
from tfx.components.trainer import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_component_specs as specs
from tfx.utils import json_utils, proto_utils

from components.data_properties import training_settings
from components.knobs import CODE_VERSION, FoldKnobs, Knob, WithKnobs


def _fold_train_steps(props: dict, steps: int) -> None:
    train_args = trainer_pb2.TrainArgs()
    if props.get(specs.TRAIN_ARGS_KEY):
        proto_utils.json_to_proto(props[specs.TRAIN_ARGS_KEY], train_args)
    train_args.num_steps = steps
    props[specs.TRAIN_ARGS_KEY] = proto_utils.proto_to_json(train_args)


def _fold_learning_rate(props: dict, learning_rate: float) -> None:
    custom_config = json_utils.loads(props.get(specs.CUSTOM_CONFIG_KEY) or "null") or {}
    custom_config["learning_rate"] = learning_rate
    props[specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(custom_config)


KNOBS = (
    Knob.declared("train_steps", _fold_train_steps),
    Knob.declared("learning_rate", _fold_learning_rate),
    CODE_VERSION,
)


def with_data_settings(exec_properties: dict, examples) -> dict:
    """A copy of `exec_properties` whose custom_config carries the data's settings."""
    props = dict(exec_properties)
    custom_config = json_utils.loads(props.get(specs.CUSTOM_CONFIG_KEY) or "null") or {}
    custom_config.update(training_settings(examples))
    props[specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(custom_config)
    return props


class Executor(FoldKnobs, tfx_executor.GenericExecutor):
    KNOBS = KNOBS

    def Do(self, input_dict, output_dict, exec_properties):
        examples = input_dict[specs.EXAMPLES_KEY][0]
        return super().Do(input_dict, output_dict, with_data_settings(exec_properties, examples))


class Trainer(WithKnobs, tfx_component.Trainer):
    """tfx.components.Trainer plus the `train_steps`, `learning_rate` and
    `code_version` knobs."""

    KNOBS = KNOBS
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
