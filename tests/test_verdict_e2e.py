"""The verdict, end to end: what `tiedflow run` prints and exits with, and what is pushed.

`weak_run`: a first run (no baseline) with an accuracy bound no model meets
and a per-class recall bound its weakest classes miss.
`regressed_run`: the same weak model with a bound it meets, evaluated against
the default model pushed by `pipeline_run`: only the change thresholds fail.
"""

from __future__ import annotations

import glob
import os
import re

import pytest
from conftest import WEAK_MIN_CLASS_RECALL

from evaluation.eval_config import RECALL
from pipeline.local import outcome as outcome_lib
from pushed_models.versions import pushed_versions
from reporting import evaluation_data as report_data

pytestmark = pytest.mark.e2e


def _serving_versions(output_dir: str) -> list:
    """The complete pushed versions (regressed_run's copy also holds broken folders)."""
    return pushed_versions(os.path.join(output_dir, "serving"))


def _outcome(run):
    return outcome_lib.read_outcome(os.path.join(run.output_dir, "metadata.sqlite"), "tiedflow")


def _report_text(run) -> str:
    (path,) = glob.glob(os.path.join(run.output_dir, "reports", "evaluation-*.html"))
    with open(path) as f:
        return f.read()


def test_weak_first_run_is_not_blessed_and_says_why(weak_run):
    assert weak_run.returncode == 3, weak_run.stdout[-2000:] + weak_run.stderr[-3000:]
    assert _serving_versions(weak_run.output_dir) == []
    out = weak_run.stdout
    assert "NOT BLESSED" in out
    match = re.search(r"accuracy on slice Overall: value (0\.\d+), bound >= 0\.999", out)
    assert match, out
    assert float(match.group(1)) < 0.999
    # First run: no baseline, so no change threshold was checked.
    assert "change vs baseline" not in out


def test_weak_run_report_names_the_failed_threshold(weak_run):
    page = _report_text(weak_run)
    assert 'class="verdict fail">NOT BLESSED' in page
    assert re.search(r"accuracy on slice Overall: value 0\.\d+, bound &gt;= 0\.999", page)
    assert "first run, so only the absolute thresholds decide" in page


def test_the_classes_below_min_class_recall_are_named_and_no_other(weak_run):
    """min_class_recall blesses or fails class by class (it used to fail every
    run, whatever the recall: TFMA found no metric for its threshold)."""
    assert weak_run.returncode == 3, weak_run.stdout[-2000:] + weak_run.stderr[-3000:]
    evaluation = report_data.load_evaluation(_outcome(weak_run).evaluation_uri)
    recall = {c: evaluation.value(report_data.OVERALL, RECALL, class_id=c) for c in range(10)}
    below = sorted(c for c, value in recall.items() if value < WEAK_MIN_CLASS_RECALL)
    assert below, recall  # a weak model (accuracy < 0.95) misses 0.99 on some class
    named = re.findall(
        r"^  - recall \(class (\d)\) on slice Overall: value ([\d.]+), "
        rf"bound >= {WEAK_MIN_CLASS_RECALL:g}$",
        weak_run.stdout,
        re.M,
    )
    assert sorted(int(c) for c, _ in named) == below, weak_run.stdout
    for c, value in named:
        assert float(value) == pytest.approx(recall[int(c)], abs=1e-4)
    page = _report_text(weak_run)
    for c in below:
        assert f"recall (class {c}) on slice Overall: value" in page


def test_worse_than_baseline_on_slices_fails_change_thresholds_only(regressed_run, pipeline_run):
    run = regressed_run
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-3000:]
    # Nothing new pushed: the serving dir holds only the copied baseline.
    assert _serving_versions(run.output_dir) == _serving_versions(pipeline_run.output_dir)
    outcomes = report_data.threshold_outcomes(
        report_data.load_evaluation(_outcome(run).evaluation_uri)
    )
    failed = [o for o in outcomes if o.failed]
    assert failed and all(o.kind == "change" for o in failed), failed
    # The absolute bound was met ...
    absolute = [o for o in outcomes if o.kind == "absolute"]
    assert absolute and not any(o.failed for o in absolute)
    # ... and a named slice (not only the overall figure) regressed.
    sliced = [o for o in failed if o.slice != "Overall"]
    assert sliced, failed
    for o in sliced:
        assert o.value < -0.05 and o.bound == "change >= -0.05"
        assert f"{o.metric} on slice {o.slice}: change vs baseline {o.value:.4f}" in run.stdout


def test_regressed_run_report_shows_baseline_beside_candidate(regressed_run):
    page = _report_text(regressed_run)
    assert 'class="verdict fail">NOT BLESSED' in page
    assert "<th>baseline accuracy</th>" in page and "<th>baseline F1</th>" in page
    assert "the newest pushed model (version " in page
