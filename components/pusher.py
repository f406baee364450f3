"""Pusher whose push destination folder can change per run.

`serving_dir` is a knob (components.knobs): on Kubeflow it is a run
parameter (a bucket the compiler cannot know), shared with LatestPushedModel
so that the baseline is read where models are pushed. The executor writes it
into the PushDestination's filesystem base directory.
"""
from __future__ import annotations

from tfx.components.pusher import component as tfx_component
from tfx.components.pusher import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.knobs import CODE_VERSION, FoldKnobs, Knob, WithKnobs


def _fold_serving_dir(props: dict, serving_dir: str) -> None:
    destination = pusher_pb2.PushDestination()
    if props.get(specs.PUSH_DESTINATION_KEY):
        proto_utils.json_to_proto(props[specs.PUSH_DESTINATION_KEY], destination)
    destination.filesystem.base_directory = serving_dir
    props[specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(destination)


KNOBS = (Knob("serving_dir", str, _fold_serving_dir), CODE_VERSION)


class Executor(FoldKnobs, tfx_executor.Executor):
    KNOBS = KNOBS


class Pusher(WithKnobs, tfx_component.Pusher):
    """tfx.components.Pusher pushing to the folder the `serving_dir` knob names.

    The stock spec requires a push destination; it is left empty here and
    the knob fills in its folder when the Pusher runs."""

    KNOBS = KNOBS
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, **kwargs):
        super().__init__(push_destination=pusher_pb2.PushDestination(), **kwargs)
