"""LatestPushedModel: the last pushed (hence blessed) model, as the baseline.

TFX's Resolver with LatestBlessedModelStrategy compiles to a resolver node,
which the open-source Kubeflow backend cannot run. This component is an
ordinary executor instead: it looks in the push destination, copies the newest
pushed SavedModel into its Model artifact (`Format-Serving/`) and marks
`has_model`. With nothing pushed yet it outputs an empty Model with
`has_model=0`, which `components.evaluator` treats as "no baseline".

Its only input is a directory outside ML Metadata, so TFX's cache would
replay a stale answer; the driver adds a digest of the newest pushed model to
the execution properties, so the cache key changes exactly when a different
model is pushed (re-pushing the same model keeps the key, and so a third run
of unchanged code and data is fully cached, as with TFX's own Resolver).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.components.base import base_driver
from tfx.proto.orchestration import driver_output_pb2
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils

SERVING_DIR_KEY = "serving_dir"
STATE_KEY = "serving_state"
HAS_MODEL_KEY = "has_model"
VERSION_KEY = "pushed_version"


def latest_pushed_version(serving_dir: str) -> Optional[str]:
    """Newest numeric version folder holding a SavedModel, or None."""
    if not serving_dir or not tf.io.gfile.isdir(serving_dir):
        return None
    versions = []
    for name in tf.io.gfile.listdir(serving_dir):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.exists(
                os.path.join(serving_dir, name, "saved_model.pb")):
            versions.append(name)
    return max(versions, key=int) if versions else None


def model_digest(model_dir: str) -> str:
    """sha256 over a SavedModel's graph and variables: equal for equal models."""
    digest = hashlib.sha256()
    names = ["saved_model.pb"]
    variables = os.path.join(model_dir, "variables")
    if tf.io.gfile.isdir(variables):
        names += [f"variables/{n}" for n in sorted(tf.io.gfile.listdir(variables))]
    for name in names:
        with tf.io.gfile.GFile(os.path.join(model_dir, name), "rb") as f:
            digest.update(name.encode())
            digest.update(f.read())
    return digest.hexdigest()


def has_model(artifact: types.Artifact) -> bool:
    """Whether a LatestPushedModel output holds a model (False on a first run)."""
    if artifact.has_custom_property(HAS_MODEL_KEY):
        return bool(artifact.get_int_custom_property(HAS_MODEL_KEY))
    return True  # a Model from anywhere else (a Trainer, an importer)


class LatestPushedModelSpec(ComponentSpec):
    PARAMETERS = {
        SERVING_DIR_KEY: ExecutionParameter(type=str),
        STATE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        serving_dir = exec_properties[SERVING_DIR_KEY]
        model = output_dict["model"][0]
        version = latest_pushed_version(serving_dir)
        if version is None:
            model.set_int_custom_property(HAS_MODEL_KEY, 0)
            return
        io_utils.copy_dir(os.path.join(serving_dir, version),
                          os.path.join(model.uri, "Format-Serving"))
        model.set_int_custom_property(HAS_MODEL_KEY, 1)
        model.set_string_custom_property(VERSION_KEY, version)


class Driver(base_driver.BaseDriver):
    """Keys the cache on the newest pushed model (local orchestration).

    Subclasses the legacy BaseDriver (what components must declare) and
    implements `run`, the entry point of the portable launcher.
    """

    def run(self, execution_info) -> driver_output_pb2.DriverOutput:
        result = driver_output_pb2.DriverOutput()
        for key, artifacts in execution_info.output_dict.items():
            for artifact in artifacts:
                result.output_artifacts[key].artifacts.add().CopyFrom(artifact.mlmd_artifact)
        serving_dir = execution_info.exec_properties[SERVING_DIR_KEY]
        version = latest_pushed_version(serving_dir)
        state = model_digest(os.path.join(serving_dir, version)) if version else "none"
        result.exec_properties[STATE_KEY].string_value = state
        return result


class LatestPushedModel(base_component.BaseComponent):
    """Outputs the newest model in the push destination (empty on a first run)."""

    SPEC_CLASS = LatestPushedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
    DRIVER_CLASS = Driver

    def __init__(self, serving_dir):
        super().__init__(spec=LatestPushedModelSpec(
            serving_dir=serving_dir,
            model=types.Channel(type=standard_artifacts.Model)))
