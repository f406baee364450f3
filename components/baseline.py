"""LatestPushedModel: the last pushed (hence blessed) model, as the baseline.

TFX's Resolver with LatestBlessedModelStrategy compiles to a resolver node,
which the open-source Kubeflow backend cannot run. This component is an
ordinary executor instead: it looks in the push destination, copies the newest
pushed SavedModel into its Model artifact (`Format-Serving/`) and marks
`has_model`. With nothing pushed yet it outputs an empty Model with
`has_model=0`, which `components.evaluator` treats as "no baseline".

Given the `candidate` (the Trainer's model), it skips pushed models identical
to it: comparing a model with itself says nothing, and it keeps a re-run of
unchanged code and data fully cached instead of re-evaluating and re-pushing.
It also skips pushed models that do not serve the same inputs and classes
(the `serving_images` input shape and the class names in prediction.json,
pushed_models.versions.incompatibility): a model of other classes is no baseline,
its accuracy is on another task. Half-written version folders are never
taken (pushed_models.versions.pushed_versions). Each skip is recorded, with
why, in the output's `baseline_skipped` property, which `tiedflow run` prints.

Without a candidate (the warm start's lookup), `serving_dir` may also be a
SavedModel dir itself, and the newest model is taken whatever it serves.

Its other input is a directory outside ML Metadata, so TFX's cache would replay
a stale answer; the driver adds the chosen model's digest to the execution
properties, so the cache key changes exactly when the baseline changes.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_driver, base_executor, executor_spec
from tfx.proto.orchestration import driver_output_pb2
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils, path_utils

from names import BASELINE_SKIPPED_PROPERTY, HAS_MODEL_PROPERTY, PUSHED_VERSION_PROPERTY
from pushed_models.versions import model_digest, model_dirs, newest_compatible

SERVING_DIR_KEY = "serving_dir"
STATE_KEY = "serving_state"
CANDIDATE_KEY = "candidate"


def has_model(artifact: types.Artifact) -> bool:
    """Whether a LatestPushedModel output holds a model (False on a first run)."""
    if artifact.has_custom_property(HAS_MODEL_PROPERTY):
        return bool(artifact.get_int_custom_property(HAS_MODEL_PROPERTY))
    return True  # a Model from anywhere else (a Trainer, an importer)


def _candidate_dir(input_dict) -> str | None:
    models = input_dict.get(CANDIDATE_KEY) or []
    return path_utils.serving_model_path(models[0].uri) if models else None


def choose(serving_dir: str, candidate_dir: str | None):
    """(model dir, version, digest, skipped) of the model to output; dir None if none.

    With a candidate: the newest compatible pushed model other than it.
    Without: the newest model at `serving_dir` (a SavedModel dir or version folders)."""
    if candidate_dir:
        version, digest, skipped = newest_compatible(serving_dir, candidate_dir)
        return (os.path.join(serving_dir, version) if version else None), version, digest, skipped
    dirs, broken = model_dirs(serving_dir)
    skipped = [item.describe() for item in broken]
    if not dirs:
        return None, None, None, skipped
    return dirs[0], os.path.basename(dirs[0].rstrip("/")), model_digest(dirs[0]), skipped


class LatestPushedModelSpec(ComponentSpec):
    PARAMETERS = {
        SERVING_DIR_KEY: ExecutionParameter(type=str),
        STATE_KEY: ExecutionParameter(type=str, optional=True),
        "code_version": ExecutionParameter(type=str, optional=True),  # TFX's cache key
    }
    INPUTS = {CANDIDATE_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True)}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        serving_dir = exec_properties[SERVING_DIR_KEY]
        model = output_dict["model"][0]
        source, version, _, skipped = choose(serving_dir, _candidate_dir(input_dict))
        for line in skipped:
            logging.warning("LatestPushedModel: skipped %s", line)
        if skipped:
            model.set_string_custom_property(BASELINE_SKIPPED_PROPERTY, "\n".join(skipped))
        if source is None:
            model.set_int_custom_property(HAS_MODEL_PROPERTY, 0)
            return
        io_utils.copy_dir(source, os.path.join(model.uri, "Format-Serving"))
        model.set_int_custom_property(HAS_MODEL_PROPERTY, 1)
        model.set_string_custom_property(PUSHED_VERSION_PROPERTY, version)


class Driver(base_driver.BaseDriver):
    """Keys the cache on the chosen baseline's digest (local orchestration).

    Subclasses the legacy BaseDriver (what components must declare) and
    implements `run`, the entry point of the portable launcher.
    """

    def run(self, execution_info) -> driver_output_pb2.DriverOutput:
        result = driver_output_pb2.DriverOutput()
        for key, artifacts in execution_info.output_dict.items():
            for artifact in artifacts:
                result.output_artifacts[key].artifacts.add().CopyFrom(artifact.mlmd_artifact)
        _, _, digest, skipped = choose(
            execution_info.exec_properties[SERVING_DIR_KEY],
            _candidate_dir(execution_info.input_dict),
        )
        state = digest or "none"
        if skipped:  # a newly pushed incompatible model changes what the run says
            state += " skipped " + " ".join(line.split(":")[0] for line in skipped)
        result.exec_properties[STATE_KEY].string_value = state
        return result


class LatestPushedModel(base_component.BaseComponent):
    """Outputs the newest pushed model other than `candidate` that serves the same
    inputs and classes (empty if none)."""

    SPEC_CLASS = LatestPushedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
    DRIVER_CLASS = Driver

    def __init__(
        self,
        serving_dir,
        candidate: types.BaseChannel | None = None,
        code_version: str | None = None,
    ):
        super().__init__(
            spec=LatestPushedModelSpec(
                serving_dir=serving_dir,
                candidate=candidate,
                code_version=code_version,
                model=types.Channel(type=standard_artifacts.Model),
            )
        )
