"""SchemaGen that loads a curated schema file when one is given, and infers one otherwise.

One component either way, so the pipeline's graph (and the compiled Kubeflow
spec) is the same with and without the `schema` setting, which is a run
parameter on Kubeflow. Empty, TFX's own executor infers the schema from the
statistics; a path (local or gs://), the file is read, checked
(ingestion.schema_file) and written as the Schema artifact, and the
ExampleValidator downstream holds the data to it. The artifact records which
file it came from (`schema_file`), so the validator can say what to update.

TFX's cache key holds the path, not the file: locally the driver adds a
digest of the file's bytes, so an edited file at the same path is loaded
again. (On Kubeflow, KFP caches by parameter value: give an edited schema a
new path, or submit with --no-cache.)
"""

from __future__ import annotations

import os

from tfx.components.schema_gen import component as tfx_component
from tfx.components.schema_gen import executor as tfx_executor
from tfx.dsl.components.base import base_driver, executor_spec
from tfx.proto.orchestration import driver_output_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import io_utils

from components.knobs import CODE_VERSION, FoldKnobs, Knob, WithKnobs
from ingestion.schema_file import content_digest, read_schema
from names import SCHEMA_FILE_PROPERTY

SCHEMA_FILE = Knob.declared("schema", name="schema_file", required=False)  # "": inferred
SCHEMA_DIGEST = Knob("schema_digest", str)  # set by the driver: keys the cache only
KNOBS = (SCHEMA_FILE, SCHEMA_DIGEST, CODE_VERSION)


class Executor(FoldKnobs, tfx_executor.Executor):
    KNOBS = KNOBS

    def Do(self, input_dict, output_dict, exec_properties):
        path = exec_properties.get(SCHEMA_FILE.name) or ""
        (schema_artifact,) = output_dict[specs.SCHEMA_KEY]
        schema_artifact.set_string_custom_property(SCHEMA_FILE_PROPERTY, path)
        if not path:
            return super().Do(input_dict, output_dict, exec_properties)
        io_utils.write_pbtxt_file(
            os.path.join(
                artifact_utils.get_single_uri(output_dict[specs.SCHEMA_KEY]),
                tfx_executor.DEFAULT_FILE_NAME,
            ),
            read_schema(path),
        )
        return None


class Driver(base_driver.BaseDriver):
    """Adds the schema file's digest to the execution properties (local orchestration).

    Subclasses the legacy BaseDriver (what components must declare) and
    implements `run`, the entry point of the portable launcher."""

    def run(self, execution_info) -> driver_output_pb2.DriverOutput:
        result = driver_output_pb2.DriverOutput()
        for key, artifacts in execution_info.output_dict.items():
            for artifact in artifacts:
                result.output_artifacts[key].artifacts.add().CopyFrom(artifact.mlmd_artifact)
        path = execution_info.exec_properties.get(SCHEMA_FILE.name) or ""
        if path:
            result.exec_properties[SCHEMA_DIGEST.name].string_value = content_digest(path)
        return result


class SchemaGen(WithKnobs, tfx_component.SchemaGen):
    """`schema_file`: empty, infer the schema from the statistics; else load that file."""

    KNOBS = KNOBS
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
    DRIVER_CLASS = Driver
