"""EvaluationReport: the evaluation as one self-contained HTML file, an artifact.

Takes the Evaluator's evaluation and blessing, the StatisticsGen statistics
and the baseline (LatestPushedModel's output, to name its version) and writes
`report.html` into an `HtmlReport` artifact with `tf.io.gfile`, so it works
with a local pipeline root and with `gs://` or `s3://` on Kubeflow alike.
Copying the file next to a local run's outputs is the CLI's job.
"""
import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import artifact

from components.baseline import HAS_MODEL_KEY, VERSION_KEY

REPORT_FILE = "report.html"


class HtmlReport(artifact.Artifact):
    """A directory holding `report.html`."""
    TYPE_NAME = "tiedflow.HtmlReport"  # KFP schema titles need "<namespace>.<Name>"


def report_path(report_uri: str) -> str:
    return os.path.join(report_uri, REPORT_FILE)


@tfx.dsl.components.component
def EvaluationReport(
    evaluation: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    statistics: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ExampleStatistics],
    baseline: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    report: tfx.dsl.components.OutputArtifact[HtmlReport],
    title: tfx.dsl.components.Parameter[str] = "tiedflow evaluation report",
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Renders the evaluation into `report.html` (see components.report_html).

    `code_version` is unused here: it is part of TFX's cache key, so a change
    to the report code renders the report anew on the next run.
    """
    from components import report_html

    version = None
    if baseline.has_custom_property(HAS_MODEL_KEY) and baseline.get_int_custom_property(
            HAS_MODEL_KEY) and baseline.has_custom_property(VERSION_KEY):
        version = baseline.get_string_custom_property(VERSION_KEY)
    blessed = bool(blessing.get_int_custom_property("blessed"))
    model_uri = (blessing.get_string_custom_property("current_model")
                 if blessing.has_custom_property("current_model") else None)
    page = report_html.render(report_html.ReportInputs(
        evaluation_uri=evaluation.uri, blessed=blessed, statistics_uri=statistics.uri,
        model_uri=model_uri, baseline_version=version, title=title))
    tf.io.gfile.makedirs(report.uri)
    with tf.io.gfile.GFile(report_path(report.uri), "w") as f:
        f.write(page)
    report.set_int_custom_property("blessed", int(blessed))
