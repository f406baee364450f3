"""Broken version folders in a push destination, end to end: `regressed_run`'s
output dir starts with pipeline_run's pushed model plus folders an interrupted
copy or push leaves (conftest.BROKEN_VERSIONS, all newer than the model).
The run and `predict` ignore them, say so, and use the complete model; what a
run prints is about that run, read from its own pipeline-run context."""

from __future__ import annotations

import os
import re

import pytest
from conftest import BROKEN_VERSIONS, run_tiedflow

from pipeline.local.outcome import read_outcome
from pushed_models.versions import pushed_versions

pytestmark = pytest.mark.e2e


def _pushed(run) -> list:
    return pushed_versions(os.path.join(run.output_dir, "serving"))


def test_a_run_ignores_broken_version_folders_and_names_them(regressed_run, pipeline_run):
    run = regressed_run
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-3000:]  # not 1
    serving = os.path.join(run.output_dir, "serving")
    for name in BROKEN_VERSIONS:
        line = re.search(
            rf"^baseline: skipped folder {re.escape(os.path.join(serving, name))}: "
            r"(.+); ignored, it can be deleted$",
            run.stdout,
            re.M,
        )
        assert line, (name, run.stdout)
    assert "saved_model.pb without variables" in run.stdout and "an empty folder" in run.stdout
    outcome = read_outcome(os.path.join(run.output_dir, "metadata.sqlite"), "tiedflow")
    assert outcome.baseline_version == _pushed(pipeline_run)[0]  # the complete model
    for name in BROKEN_VERSIONS:  # reported, never touched
        assert os.path.isdir(os.path.join(serving, name))


def test_predict_ignores_broken_version_folders_and_names_them(
    regressed_run, pipeline_run, tmp_path
):
    from PIL import Image

    from ingestion import sources

    record = next(iter(sources.digits_records(8)))
    image = str(tmp_path / "digit.png")
    Image.fromarray(record.pixels).save(image)
    done = run_tiedflow("predict", image, output_dir=regressed_run.output_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"{image}: ")
    serving = os.path.join(regressed_run.output_dir, "serving")
    for name in BROKEN_VERSIONS:
        assert (
            f"tiedflow predict: warning: folder {os.path.join(serving, name)}: " in done.stderr
        ), done.stderr
    assert done.stderr.count("can be deleted") == len(BROKEN_VERSIONS)
    assert "Traceback" not in done.stderr


def test_the_run_prints_the_version_it_pushed_from_its_own_run(pipeline_run):
    """The printed run id is this run's pipeline-run context, and the pushed
    folder printed is the one the Pusher wrote (complete, no staging left)."""
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    (run_id,) = re.findall(r"^run (\S+): overall eval accuracy", pipeline_run.stdout, re.M)
    outcome = read_outcome(
        os.path.join(pipeline_run.output_dir, "metadata.sqlite"), "tiedflow", run_id=run_id
    )
    (version,) = _pushed(pipeline_run)
    serving = os.path.join(pipeline_run.output_dir, "serving")
    assert outcome.pushed_dir == os.path.join(serving, version)
    assert f"BLESSED and pushed to {outcome.pushed_dir}\n" in pipeline_run.stdout
    assert not [n for n in os.listdir(serving) if n.startswith(".")]
