"""Pusher whose push destination folder can change per run, and whose pushes
are all or nothing under a version number of their own (pushed_models.push).

`serving_dir` is a knob (components.knobs): on Kubeflow it is a run
parameter (a bucket the compiler cannot know), shared with LatestPushedModel
so that the baseline is read where models are pushed. The executor writes it
into the PushDestination's filesystem base directory.
"""

from __future__ import annotations

from absl import logging
from tfx.components.pusher import component as tfx_component
from tfx.components.pusher import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import io_utils, proto_utils

from components import tfx_internals
from components.knobs import CODE_VERSION, FoldKnobs, Knob, WithKnobs
from pushed_models.push import push


def _fold_serving_dir(props: dict, serving_dir: str) -> None:
    destination = pusher_pb2.PushDestination()
    if props.get(specs.PUSH_DESTINATION_KEY):
        proto_utils.json_to_proto(props[specs.PUSH_DESTINATION_KEY], destination)
    destination.filesystem.base_directory = serving_dir
    props[specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(destination)


KNOBS = (Knob.declared("serving_dir", _fold_serving_dir), CODE_VERSION)


class SafePushExecutor(tfx_executor.Executor):
    """TFX's Pusher executor, with the copy replaced by pushed_models.push: a new
    version number every time, written elsewhere and moved into place. The
    PushedModel artifact records the version actually written, marked the way
    TFX's Pusher marks it (components.tfx_internals)."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        model_push = artifact_utils.get_single_instance(output_dict[specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            tfx_internals.mark_not_pushed(self, model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("tiedflow pushes to a filesystem destination only")
        model_path = self.GetModelPath(input_dict)
        version, target = push(model_path, destination.filesystem.base_directory)
        logging.info("Model written to serving path %s.", target)
        io_utils.copy_dir(model_path, model_push.uri)  # TFX's archive copy
        tfx_internals.mark_pushed(self, model_push, target, version)


class Executor(FoldKnobs, SafePushExecutor):
    KNOBS = KNOBS


class Pusher(WithKnobs, tfx_component.Pusher):
    """tfx.components.Pusher pushing to the folder the `serving_dir` knob names.

    The stock spec requires a push destination; it is left empty here and
    the knob fills in its folder when the Pusher runs."""

    KNOBS = KNOBS
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, **kwargs):
        super().__init__(push_destination=pusher_pb2.PushDestination(), **kwargs)
