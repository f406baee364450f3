"""Shared fixtures. The end-to-end run is made once per session and shared.

Test modules import project packages only (never `tests.*`: a package of the
stack installs its own top-level `tests` into site-packages).
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIEDFLOW = os.path.join(os.path.dirname(sys.executable), "tiedflow")


@dataclasses.dataclass
class CliRun:
    """One `tiedflow` invocation: its exit code, output and output dir."""
    args: list
    returncode: int
    stdout: str
    stderr: str
    output_dir: str
    seconds: float

    @property
    def report_path(self) -> str:
        """The report this run printed it wrote (`report: PATH`)."""
        found = re.findall(r"^report: (.+\.html)$", self.stdout, re.M)
        assert len(found) == 1, self.stdout[-2000:]
        return found[0]


def run_tiedflow(*args: str, output_dir: str | None = None, env=None,
                 timeout: float = 900) -> CliRun:
    cmd = [TIEDFLOW, *args]
    if output_dir is not None:
        cmd += ["--output-dir", output_dir]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})
    return CliRun(cmd, proc.returncode, proc.stdout, proc.stderr, output_dir or "",
                  time.time() - start)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> CliRun:
    """`tiedflow run` on the embedded digits with the default config, once per session."""
    out = str(tmp_path_factory.mktemp("e2e") / "out")
    return run_tiedflow("run", output_dir=out)


@pytest.fixture(scope="session")
def pipeline_rerun(pipeline_run) -> CliRun:
    """A second run into the same output dir, orchestrated by BeamDagRunner.

    Same ML Metadata store, so it reuses what the LocalDagRunner run cached.
    """
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    return run_tiedflow("run", "--orchestrator", "beam", output_dir=pipeline_run.output_dir)


@pytest.fixture(scope="session")
def failed_rerun(pipeline_rerun, tmp_path_factory):
    """A third run into the same output dir that fails on unreadable data.

    Returns the run and the pushed versions there before it."""
    serving = os.path.join(pipeline_rerun.output_dir, "serving")
    before = sorted(os.listdir(serving))
    bad = tmp_path_factory.mktemp("bad") / "bad.tfrecord"
    bad.write_bytes(b"\x00not a tfrecord" * 20)
    return run_tiedflow("run", "--data", str(bad), output_dir=pipeline_rerun.output_dir), before


# A model trained this briefly reaches about 0.6 eval accuracy: clearly worse
# than the default, with a confusion matrix that has something in it.
WEAK_STEPS = "train_steps=40"


@pytest.fixture(scope="session")
def weak_run(tmp_path_factory) -> CliRun:
    """A first run (no baseline) whose accuracy bound cannot be met: not blessed."""
    out = str(tmp_path_factory.mktemp("weak") / "out")
    return run_tiedflow("run", "--set", WEAK_STEPS, "--set", "accuracy_threshold=0.999",
                        output_dir=out)


@pytest.fixture(scope="session")
def regressed_run(pipeline_run, tmp_path_factory) -> CliRun:
    """The weak model against `pipeline_run`'s pushed model as baseline.

    Its own output dir starts with a copy of pipeline_run's push destination
    (where LatestPushedModel looks), and its accuracy bound is low enough to
    pass: only the change thresholds can fail it.
    """
    import shutil

    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    out = tmp_path_factory.mktemp("regressed") / "out"
    shutil.copytree(os.path.join(pipeline_run.output_dir, "serving"), out / "serving")
    return run_tiedflow("run", "--set", WEAK_STEPS, "--set", "accuracy_threshold=0.3",
                        output_dir=str(out))
