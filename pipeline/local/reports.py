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

import tensorflow as tf

from pipeline.config import PipelineConfig


def report_name(run_id: str) -> str:
    """'2026-11-25T05:55:08.417366' -> 'evaluation-2026-11-25T05-55-08.html'."""
    stamp = re.sub(r"[^0-9A-Za-z-]+", "-", run_id.split(".")[0]).strip("-")
    return f"evaluation-{stamp or 'run'}.html"


def copy_run_report(outcome, reports_dir: str) -> str | None:
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

    metadata_path = PipelineConfig(output_dir=output_dir).metadata_path
    result = outcome_lib.read_outcome(metadata_path, pipeline_name, evaluated=True)
    if result.evaluation_uri is None:  # read_outcome(evaluated=True) found an evaluation
        raise LookupError("no evaluation recorded")
    facts = (_facts(metadata_path, result.evaluation_uri) if result.evaluation_uri else None) or {}
    page = report_page.render(
        report_page.ReportInputs(
            data=facts.get("data"),
            data_fingerprint=facts.get("data_fingerprint"),
            code_versions=facts.get("code_versions"),
            run_id=result.run_id,
            evaluation_uri=result.evaluation_uri,
            blessed=result.blessed,
            statistics_uri=result.statistics_uri,
            model_uri=result.model_uri,
            baseline_version=result.baseline_version,
            baseline_skipped=result.baseline_skipped,
            class_names=result.class_names,
            title=f"{pipeline_name} evaluation report",
        )
    )
    return page, result.run_id


def _facts(metadata_path: str, evaluation_uri: str) -> dict | None:
    """pipeline.local.lineage.evaluation_facts, or None when no store knows it."""
    from pipeline.local import lineage

    if not os.path.exists(metadata_path):
        return None
    try:
        return lineage.evaluation_facts(metadata_path, evaluation_uri)
    except LookupError:
        return None


def store_of(evaluation_uri: str) -> str | None:
    """The metadata.sqlite of the output dir an evaluation artifact lies in
    (<output-dir>/pipeline_root/Evaluator/evaluation/<id>), if there is one."""
    parts = os.path.abspath(evaluation_uri).rstrip("/").split(os.sep)
    if len(parts) > 4 and parts[-4] == "pipeline_root":
        path = os.sep.join(parts[:-4] + ["metadata.sqlite"])
        return path if os.path.exists(path) else None
    return None


def render_evaluation(
    evaluation_uri: str, statistics_uri: str | None = None, output_dir: str | None = None
) -> str:
    """The report of one evaluation artifact; the verdict is TFMA's validation.
    When the evaluation belongs to a run recorded in `output_dir`'s store (or
    the store of the output dir it lies in), classes are shown by name and the
    data and code of that run are named."""
    from reporting import page as report_page

    facts = None
    for store in filter(
        None,
        [
            store_of(evaluation_uri),
            output_dir and PipelineConfig(output_dir=output_dir).metadata_path,
        ],
    ):
        facts = _facts(store, evaluation_uri)
        if facts:
            break
    facts = facts or {}
    return report_page.render(
        report_page.ReportInputs(
            evaluation_uri=evaluation_uri,
            statistics_uri=statistics_uri or facts.get("statistics_uri"),
            class_names=facts.get("class_names"),
            data=facts.get("data"),
            data_fingerprint=facts.get("data_fingerprint"),
            run_id=facts.get("run_id"),
            model_uri=facts.get("model_uri"),
            baseline_version=facts.get("baseline_version"),
            code_versions=facts.get("code_versions"),
        )
    )
