"""EvaluationReport: the evaluation as one self-contained HTML file, an artifact.

Takes the Evaluator's evaluation and blessing, the StatisticsGen statistics,
the Examples (whose class names the report shows: they are read at run time,
like everything that comes from the data) and the baseline
(LatestPushedModel's output, to name its version or why there is none) and writes
the page as an `HtmlReport` artifact: one HTML file at the artifact's URI
(TFX's file-at-URI value artifact, written through TFX's fileio, so a local
pipeline root and `gs://` alike), typed `system.HTML`. That schema title is
what the Kubeflow Pipelines UI renders as a page, from the single object at
the URI; a directory there (TFX's usual artifact) would show nothing. The page
itself is `reporting`'s; copying it next to a local run's outputs is the
CLI's job.
"""

import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts, value_artifact

from names import (
    BASELINE_SKIPPED_PROPERTY,
    DATA_FINGERPRINT_PROPERTY,
    DATA_PROPERTY,
    HAS_MODEL_PROPERTY,
    HTML_REPORT_TYPE,
    PUSHED_VERSION_PROPERTY,
)


class HtmlReport(value_artifact.ValueArtifact):
    """The report page, UTF-8 HTML, as the file at the artifact's URI (KFP's `system.HTML`)."""

    TYPE_NAME = HTML_REPORT_TYPE

    def encode(self, value: str) -> bytes:
        return value.encode("utf-8")

    def decode(self, serialized_value: bytes) -> str:
        return serialized_value.decode("utf-8")


def _class_names_or_none(examples):
    """The data's class names; None (classes shown by id) if they were not recorded."""
    from components.data_properties import class_names

    try:
        return class_names(examples)
    except ValueError:
        return None


def _string_or_none(artifact, name):
    return artifact.get_string_custom_property(name) if artifact.has_custom_property(name) else None


@component
def EvaluationReport(
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    examples: InputArtifact[standard_artifacts.Examples],
    baseline: InputArtifact[standard_artifacts.Model],
    report: OutputArtifact[HtmlReport],
    title: Parameter[str] = "tiedflow evaluation report",
    code_version: Parameter[str] = "",
    code_versions: Parameter[str] = "",
) -> None:
    """Renders the evaluation into the report page (see reporting.page).

    `code_version` is not read: it keys TFX's cache on the report code, so a
    change to it renders the report anew on the next run. `code_versions` is
    every component's code fingerprint (JSON), shown in the page's lineage.
    """
    from reporting import page

    version = None
    if (
        baseline.has_custom_property(HAS_MODEL_PROPERTY)
        and baseline.get_int_custom_property(HAS_MODEL_PROPERTY)
        and baseline.has_custom_property(PUSHED_VERSION_PROPERTY)
    ):
        version = baseline.get_string_custom_property(PUSHED_VERSION_PROPERTY)
    blessed = bool(blessing.get_int_custom_property("blessed"))
    model_uri = (
        blessing.get_string_custom_property("current_model")
        if blessing.has_custom_property("current_model")
        else None
    )
    html = page.render(
        page.ReportInputs(
            evaluation_uri=evaluation.uri,
            blessed=blessed,
            statistics_uri=statistics.uri,
            model_uri=model_uri,
            baseline_version=version,
            title=title,
            class_names=_class_names_or_none(examples),
            data=_string_or_none(examples, DATA_PROPERTY),
            data_fingerprint=_string_or_none(examples, DATA_FINGERPRINT_PROPERTY),
            code_versions=json.loads(code_versions) if code_versions else None,
            baseline_skipped=(
                baseline.get_string_custom_property(BASELINE_SKIPPED_PROPERTY)
                if baseline.has_custom_property(BASELINE_SKIPPED_PROPERTY)
                else None
            ),
        )
    )
    # TFX's local runners create a value artifact's folder, TFX's Kubeflow entry point does not.
    fileio.makedirs(os.path.dirname(report.uri))
    report.value = html
    report.set_int_custom_property("blessed", int(blessed))
