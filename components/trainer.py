"""Trainer whose training steps and learning rate can change per run.

`train_steps` and `learning_rate` are top-level knobs (see components.knobs),
so a compiled Kubeflow pipeline takes them as runtime parameters; the executor
writes them into `train_args.num_steps` and the custom_config the run_fn reads,
then runs TFX's GenericExecutor.
"""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.components.trainer import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_component_specs as specs
from tfx.utils import json_utils, proto_utils

from components.knobs import add_knob, pop_knob

TRAIN_STEPS_KEY = "train_steps"
LEARNING_RATE_KEY = "learning_rate"


def apply_knobs(exec_properties: dict) -> dict:
    """A copy of `exec_properties` with the knobs folded into TFX's properties."""
    props = dict(exec_properties)
    steps = pop_knob(props, TRAIN_STEPS_KEY, int)
    learning_rate = pop_knob(props, LEARNING_RATE_KEY, float)
    custom_config = json_utils.loads(props.get(specs.CUSTOM_CONFIG_KEY) or "null") or {}
    if steps is not None:
        train_args = proto_utils.json_to_proto(props[specs.TRAIN_ARGS_KEY],
                                               trainer_pb2.TrainArgs())
        train_args.num_steps = steps
        props[specs.TRAIN_ARGS_KEY] = proto_utils.proto_to_json(train_args)
        custom_config[TRAIN_STEPS_KEY] = steps
    if learning_rate is not None:
        custom_config[LEARNING_RATE_KEY] = learning_rate
    props[specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(custom_config)
    return props


class Executor(tfx_executor.GenericExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        return super().Do(input_dict, output_dict, apply_knobs(exec_properties))


class Trainer(tfx.components.Trainer):
    """tfx.components.Trainer plus the `train_steps` and `learning_rate` knobs."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, train_steps=None, learning_rate=None, **kwargs):
        super().__init__(**kwargs)
        add_knob(self, TRAIN_STEPS_KEY, train_steps, int)
        add_knob(self, LEARNING_RATE_KEY, learning_rate, float)
