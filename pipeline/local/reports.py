"""Local copies of evaluation reports: `<output-dir>/reports/`.

The EvaluationReport component writes the report as an artifact inside the
pipeline root (on Kubeflow too). After a local run the CLI copies it next to
the run's other outputs under a name that says which run it was; `tiedflow
report` renders it again from an output dir's latest run or from any
evaluation artifact.
"""
from __future__ import annotations

import os
import re
from typing import Optional

import tensorflow as tf

from pipeline.config import PipelineConfig


def report_name(run_id: str) -> str:
    """'2026-11-25T05:55:08.417366' -> 'evaluation-2026-11-25T05-55-08.html'."""
    stamp = re.sub(r"[^0-9A-Za-z-]+", "-", run_id.split(".")[0]).strip("-")
    return f"evaluation-{stamp or 'run'}.html"


def copy_run_report(outcome, reports_dir: str) -> Optional[str]:
    """Copies a run's report artifact into `reports_dir`; the copy's path or None."""
    if not outcome.report_uri or not tf.io.gfile.exists(outcome.report_uri):
        return None
    tf.io.gfile.makedirs(reports_dir)
    target = os.path.join(reports_dir, report_name(outcome.run_id))
    tf.io.gfile.copy(outcome.report_uri, target, overwrite=True)  # the page is the file
    return target


def render_latest(output_dir: str, pipeline_name: str = "tiedflow") -> tuple[str, str]:
    """(html, run id) for the newest evaluated run in `output_dir`'s ML Metadata.

    Runs that stopped before the Evaluator (bad data, say) are skipped: the
    report is of the newest evaluation there is."""
    from pipeline.local import outcome as outcome_lib
    from reporting import page as report_page

    result = outcome_lib.read_outcome(PipelineConfig(output_dir=output_dir).metadata_path,
                                      pipeline_name, evaluated=True)
    page = report_page.render(report_page.ReportInputs(
        evaluation_uri=result.evaluation_uri, blessed=result.blessed,
        statistics_uri=result.statistics_uri, model_uri=result.model_uri,
        baseline_version=result.baseline_version, baseline_skipped=result.baseline_skipped,
        class_names=result.class_names, title=f"{pipeline_name} evaluation report"))
    return page, result.run_id


def render_evaluation(evaluation_uri: str, statistics_uri: Optional[str] = None) -> str:
    """The report of one evaluation artifact; the verdict is TFMA's validation."""
    from reporting import page as report_page

    return report_page.render(report_page.ReportInputs(
        evaluation_uri=evaluation_uri, statistics_uri=statistics_uri))
