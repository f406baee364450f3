"""TFX's cache follows the code: an edit re-runs the components that load the
edited module and what consumes their output, and reuses every other one.

The pipeline runs from a copy of the project's sources (PYTHONPATH puts it
before the installed project), in a copy of the shared run's output dir. The
first run there reuses everything up to the Trainer; the components keyed on
the push destination's path (baseline lookup, Evaluator, Pusher, report) run
again, since that path is new. From then on each edit shows what it re-runs.
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import REPO, run_tiedflow

from pipeline import fingerprints
from pipeline.local.outcome import read_outcome

UPSTREAM = {"ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform"}
SERVING_KEYED = {"LatestPushedModel", "Evaluator", "Pusher", "EvaluationReport"}


@pytest.fixture(scope="module")
def sandbox(pipeline_run, tmp_path_factory):
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    root = tmp_path_factory.mktemp("cache")
    for package in fingerprints.PROJECT:
        shutil.copytree(
            os.path.join(REPO, package),
            root / "src" / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copytree(pipeline_run.output_dir, root / "out")
    return root


def run_after_edit(sandbox, module_path=None) -> dict:
    """Appends a comment to one module of the copy (if given), runs; node -> executed?"""
    if module_path:
        with open(sandbox / "src" / module_path, "a") as f:
            f.write("\n# an edit\n")
    done = run_tiedflow(
        "run", output_dir=str(sandbox / "out"), env={"PYTHONPATH": str(sandbox / "src")}
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    outcome = read_outcome(os.path.join(sandbox, "out", "metadata.sqlite"), "tiedflow")
    return {node: not cached for node, cached in outcome.cached.items()}


@pytest.mark.e2e
def test_edits_rerun_exactly_the_components_that_load_the_code(sandbox):
    moved = run_after_edit(sandbox)
    # The copied code keys the cache like the original: only what depends on
    # the new push destination's path runs again.
    assert {n for n, ran in moved.items() if ran} == SERVING_KEYED, moved

    report = run_after_edit(sandbox, "reporting/plots.py")
    assert {n for n, ran in report.items() if ran} == {"EvaluationReport"}, report

    metrics = run_after_edit(sandbox, "evaluation/metrics.py")
    assert metrics["Evaluator"] and metrics["EvaluationReport"], metrics
    assert not any(metrics[n] for n in UPSTREAM | {"Trainer"}), metrics

    model = run_after_edit(sandbox, "trainer/model.py")
    assert model["Trainer"] and model["Evaluator"], model
    assert not any(model[n] for n in UPSTREAM), model
