"""ExampleValidator that stops the run when the data has anomalies.

TFX's ExampleValidator only records anomalies; nothing downstream reads them.
Here an anomaly fails the component with a message naming the split, the
feature and the problem, and what to do: fix the data, or, when the schema is
a curated file (the `schema` setting) and the data is right, update the file.
So bad data never reaches training.

The anomalies are read back from what TFX's executor wrote, its
ExampleAnomalies artifact (one `SchemaDiff.pb` per split), with public TFX
interfaces only.
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.example_validator import component as tfx_component
from tfx.components.example_validator import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import io_utils

from components.knobs import CODE_VERSION, FoldKnobs, WithKnobs
from names import SCHEMA_FILE_PROPERTY


class DataAnomaliesError(RuntimeError):
    pass


def what_to_do(schema_file: str) -> str:
    if schema_file:
        return (
            f"fix the data, or, if the data is right, update the schema file "
            f"{schema_file} (the `schema` setting)"
        )
    return (
        "fix the data (the schema was inferred from it; a curated schema file "
        "can be given with --set schema=PATH)"
    )


def describe(split: str, anomalies) -> list[str]:
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        lines.append(
            f"split {split!r}, feature {feature!r}: {info.short_description or ''} "
            f"{info.description}".strip()
        )
    if anomalies.HasField("dataset_anomaly_info"):
        lines.append(f"split {split!r}: {anomalies.dataset_anomaly_info.description}")
    return lines


def written_anomalies(anomalies_artifact) -> dict:
    """{split: Anomalies proto} as TFX's ExampleValidator wrote them."""
    found = {}
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(
            artifact_utils.get_split_uri([anomalies_artifact], split),
            tfx_executor.DEFAULT_FILE_NAME,
        )
        found[split] = anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
    return found


class Executor(FoldKnobs, tfx_executor.Executor):
    KNOBS = (CODE_VERSION,)

    def Do(self, input_dict, output_dict, exec_properties):
        result = super().Do(input_dict, output_dict, exec_properties)
        (anomalies_artifact,) = output_dict[specs.ANOMALIES_KEY]
        found = [
            line
            for split, anomalies in written_anomalies(anomalies_artifact).items()
            for line in describe(split, anomalies)
        ]
        if found:
            (schema,) = input_dict[specs.SCHEMA_KEY]
            schema_file = (
                schema.get_string_custom_property(SCHEMA_FILE_PROPERTY)
                if schema.has_custom_property(SCHEMA_FILE_PROPERTY)
                else ""
            )
            raise DataAnomaliesError(
                "data anomalies found:\n  " + "\n  ".join(found) + "\n" + what_to_do(schema_file)
            )
        return result


class ExampleValidator(WithKnobs, tfx_component.ExampleValidator):
    KNOBS = (CODE_VERSION,)
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
