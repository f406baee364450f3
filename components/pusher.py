"""Pusher whose push destination folder can change per run.

`serving_dir` is a top-level knob (see components.knobs): on Kubeflow it is a
runtime parameter (a bucket the compiler cannot know), shared with
LatestPushedModel so that the baseline is read where models are pushed. The
executor writes it into the PushDestination's filesystem base directory.
"""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.components.pusher import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.knobs import add_knob, pop_knob

SERVING_DIR_KEY = "serving_dir"


def apply_knobs(exec_properties: dict) -> dict:
    """A copy of `exec_properties` with `serving_dir` as the push destination."""
    props = dict(exec_properties)
    serving_dir = pop_knob(props, SERVING_DIR_KEY, str)
    if serving_dir is not None:
        destination = pusher_pb2.PushDestination()
        if props.get(specs.PUSH_DESTINATION_KEY):
            proto_utils.json_to_proto(props[specs.PUSH_DESTINATION_KEY], destination)
        destination.filesystem.base_directory = serving_dir
        props[specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(destination)
    return props


class Executor(tfx_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        return super().Do(input_dict, output_dict, apply_knobs(exec_properties))


class Pusher(tfx.components.Pusher):
    """tfx.components.Pusher pushing to the folder given by the `serving_dir` knob."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, serving_dir, **kwargs):
        # The executor sets the folder from the knob; a plain path goes in the
        # proto as well so that the recorded properties read naturally.
        base = serving_dir if isinstance(serving_dir, str) else ""
        super().__init__(push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base)), **kwargs)
        add_knob(self, SERVING_DIR_KEY, serving_dir, str)
