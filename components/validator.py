"""ExampleValidator that stops the run when the data has anomalies.

TFX's ExampleValidator only records anomalies; nothing downstream reads them.
Here an anomaly fails the component with a message naming the split, the
feature and the problem, and what to do: fix the data, or, when the schema is
a curated file (the `schema` setting) and the data is right, update the file.
So bad data never reaches training.
"""
import os

from tfx.components.example_validator import component as tfx_component
from tfx.components.example_validator import executor as tfx_executor
from tfx.components.example_validator import labels
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs as specs

from components.knobs import CODE_VERSION, FoldKnobs, WithKnobs
from names import SCHEMA_FILE_PROPERTY


class DataAnomaliesError(RuntimeError):
    pass


def what_to_do(schema_file: str) -> str:
    if schema_file:
        return (f"fix the data, or, if the data is right, update the schema file "
                f"{schema_file} (the `schema` setting)")
    return ("fix the data (the schema was inferred from it; a curated schema file "
            "can be given with --set schema=PATH)")


def describe(split: str, anomalies) -> list[str]:
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        lines.append(f"split {split!r}, feature {feature!r}: {info.short_description or ''} "
                     f"{info.description}".strip())
    if anomalies.HasField("dataset_anomaly_info"):
        lines.append(f"split {split!r}: {anomalies.dataset_anomaly_info.description}")
    return lines


class Executor(FoldKnobs, tfx_executor.Executor):
    KNOBS = (CODE_VERSION,)

    def Do(self, input_dict, output_dict, exec_properties):
        self._found = []
        result = super().Do(input_dict, output_dict, exec_properties)
        if self._found:
            (schema,) = input_dict[specs.SCHEMA_KEY]
            schema_file = (schema.get_string_custom_property(SCHEMA_FILE_PROPERTY)
                           if schema.has_custom_property(SCHEMA_FILE_PROPERTY) else "")
            raise DataAnomaliesError("data anomalies found:\n  " + "\n  ".join(self._found)
                                     + "\n" + what_to_do(schema_file))
        return result

    def _Validate(self, inputs, outputs):
        anomalies = super()._Validate(inputs, outputs)
        split_dir = os.path.basename(os.path.normpath(outputs[labels.SCHEMA_DIFF_PATH]))
        self._found.extend(describe(split_dir.replace("Split-", ""), anomalies))
        return anomalies


class ExampleValidator(WithKnobs, tfx_component.ExampleValidator):
    KNOBS = (CODE_VERSION,)
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
