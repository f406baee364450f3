"""Trainer whose training steps and learning rate can change per run.

Knobs (components.knobs): `train_steps` goes into `train_args.num_steps`,
which the run_fn reads as `fn_args.train_steps` (its only path);
`learning_rate` into the custom_config the run_fn reads its other settings
from; `code_version` keys TFX's cache on the trainer's code. Then TFX's
GenericExecutor runs `trainer.task.run_fn`.
"""
from __future__ import annotations

from tfx.components.trainer import component as tfx_component
from tfx.components.trainer import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_component_specs as specs
from tfx.utils import json_utils, proto_utils

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


KNOBS = (Knob("train_steps", int, _fold_train_steps),
         Knob("learning_rate", float, _fold_learning_rate),
         CODE_VERSION)
# Settings that reach the run_fn through a knob, never through custom_config.
KNOB_SETTINGS = ("train_steps", "learning_rate")


class Executor(FoldKnobs, tfx_executor.GenericExecutor):
    KNOBS = KNOBS


class Trainer(WithKnobs, tfx_component.Trainer):
    """tfx.components.Trainer plus the `train_steps`, `learning_rate` and
    `code_version` knobs."""

    KNOBS = KNOBS
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
