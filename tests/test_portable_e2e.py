"""The pipeline through Beam's portable runner: a job service and SDK workers in a
separate worker-pool process (the Job API and SDK harness that Flink, Spark and
Dataflow Runner v2 use), ending with a pushed model."""

import re

import pytest
from conftest import run_tiedflow

from pipeline.local import portable_beam
from pipeline.local.outcome import read_outcome

pytestmark = pytest.mark.e2e
BEAM_COMPONENTS = ("ImageExampleGen", "StatisticsGen", "Evaluator")


def test_every_beam_component_runs_on_the_portable_runner(tmp_path):
    out = tmp_path / "out"
    with portable_beam.services(str(tmp_path / "services")) as flags:
        done = run_tiedflow(
            "run", *(f"--beam-arg={f}" for f in flags), "--verbose", output_dir=str(out)
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "BLESSED and pushed to" in done.stdout
    outcome = read_outcome(str(out / "metadata.sqlite"), "tiedflow")
    assert not any(outcome.cached.values())
    # Each Beam component's job went to the job service, not to an in-process runner.
    jobs = re.findall(r"Job state changed to (\w+)", done.stderr)
    assert jobs.count("DONE") >= len(BEAM_COMPONENTS), done.stderr[-3000:]
