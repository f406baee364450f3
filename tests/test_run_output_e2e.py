"""What `tiedflow run` shows: one line per component as it starts and ends, in
pipeline order, executed or cached as ML Metadata recorded it; library warnings
and logs only in the run's log file, unless --verbose."""

from __future__ import annotations

import os
import re

import pytest

from pipeline.local.outcome import read_outcome

pytestmark = pytest.mark.e2e

LINE = re.compile(r"^\[\s*(\d+)/(\d+)\] (\S+) (started|executed|cached)(?: in ([\d.]+) s)?$", re.M)


def component_lines(stdout: str) -> list[tuple]:
    return [(int(i), int(n), node, state) for i, n, node, state, _ in LINE.findall(stdout)]


def run_id(stdout: str) -> str:
    (found,) = re.findall(r"^run (\S+): overall eval accuracy", stdout, re.M)
    return found


def log_path(stdout: str) -> str:
    (found,) = re.findall(r"^log: (\S+)", stdout, re.M)
    return found


def check_lines_against_metadata(run, expected_state=None):
    lines = component_lines(run.stdout)
    outcome = read_outcome(
        os.path.join(run.output_dir, "metadata.sqlite"), "tiedflow", run_id=run_id(run.stdout)
    )
    total = lines[0][1]
    assert total == len(outcome.cached) == 10
    # Each component: a start line, then its end line, in pipeline order.
    assert [(i, state == "started") for i, _, _, state in lines] == [
        (i, start) for i in range(1, total + 1) for start in (True, False)
    ]
    ends = {node: state for _, _, node, state in lines if state != "started"}
    assert ends == {
        node: "cached" if cached else "executed" for node, cached in outcome.cached.items()
    }
    if expected_state:
        assert set(ends.values()) == {expected_state}


def test_a_cold_run_shows_every_component_executed_and_no_warning(pipeline_run):
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    check_lines_against_metadata(pipeline_run, "executed")
    assert re.search(
        r"^ +Trainer epoch \d+/\d+: loss [\d.]+ accuracy [\d.]+ eval accuracy",
        pipeline_run.stdout,
        re.M,
    ), pipeline_run.stdout
    terminal = pipeline_run.stdout + pipeline_run.stderr
    assert "WARNING" not in terminal and "Traceback" not in terminal, terminal[-3000:]
    with open(log_path(pipeline_run.stdout)) as f:
        log = f.read()
    assert "WARNING" in log  # what the terminal was spared is kept
    assert "Component Trainer is running." in log


def test_verbose_shows_the_logs_live_and_still_keeps_them(pipeline_rerun):
    """The second run (BeamDagRunner, --verbose) reuses every component."""
    assert pipeline_rerun.returncode == 0, pipeline_rerun.stderr[-3000:]
    check_lines_against_metadata(pipeline_rerun, "cached")
    assert re.search(r"^WARNING:absl:", pipeline_rerun.stderr, re.M), pipeline_rerun.stderr[-2000:]
    with open(log_path(pipeline_rerun.stdout)) as f:
        assert "WARNING" in f.read()
