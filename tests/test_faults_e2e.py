"""The kill-and-resume matrix, deleted artifacts, concurrent runs (`make test-faults`).

- A run stopped during each component, by SIGTERM and by SIGKILL, and started
  again on the same output dir: each chain of runs (tests/background_run.KillChain)
  stops one run inside each component in turn; every run reuses what the runs
  before it finished, the last one finishes, one model is pushed, and the model
  pushed before the chain stays byte for byte the same.
- Each component's folder under pipeline_root/ deleted between runs (and the
  whole pipeline_root, and the metadata store): the next run makes again what
  is missing and what depends on it, and nothing else.
- Two runs on two output dirs at the same time both succeed.

A sample of the first two runs in `make test` (tests/test_interrupt_e2e.py).
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest
from background_run import ORDER, BackgroundRun, KillChain, newest_run_states, pushed
from conftest import run_tiedflow

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SIGNALS = (signal.SIGTERM, signal.SIGKILL)


def seeded_output_dir(pipeline_run, tmp_path_factory, name: str) -> str:
    """A new output dir holding a copy of the shared run's pushed model."""
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    out = tmp_path_factory.mktemp(name) / "out"
    shutil.copytree(os.path.join(pipeline_run.output_dir, "serving"), out / "serving")
    return str(out)


@pytest.fixture(scope="module")
def chains(pipeline_run, tmp_path_factory) -> dict:
    return {
        signum: KillChain(
            seeded_output_dir(pipeline_run, tmp_path_factory, signal.Signals(signum).name)
        )
        for signum in SIGNALS
    }


@pytest.mark.parametrize(
    "signum,component",
    [(s, c) for s in SIGNALS for c in ORDER],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else v,
)
def test_a_run_stopped_during_a_component_resumes(chains, signum, component):
    chains[signum].stop_during(component, signum)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_the_run_after_the_last_stop_finishes_and_pushes_once(chains, signum):
    chains[signum].finish()


# --- deleted artifacts -------------------------------------------------------


def downstream(component: str) -> set:
    """The components that consume `component`'s outputs, directly or not, in
    the pipeline as wired."""
    from pipeline.config import PipelineConfig
    from pipeline.dag import create_pipeline

    nodes = {c.id: c for c in create_pipeline(PipelineConfig()).components}
    found, todo = set(), [component]
    while todo:
        for node in nodes[todo.pop()].downstream_nodes:
            if node.id not in found:
                found.add(node.id)
                todo.append(node.id)
    return found


@pytest.fixture(scope="module")
def finished(pipeline_run, tmp_path_factory) -> str:
    out = seeded_output_dir(pipeline_run, tmp_path_factory, "deleted")
    done = run_tiedflow("run", output_dir=out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.parametrize("deleted", [*ORDER, "pipeline_root", "metadata.sqlite"])
def test_a_deleted_folder_is_made_again(finished, deleted):
    before = pushed(finished)
    path = os.path.join(
        finished,
        deleted
        if deleted in ("pipeline_root", "metadata.sqlite")
        else os.path.join("pipeline_root", deleted),
    )
    (os.remove if deleted == "metadata.sqlite" else shutil.rmtree)(path)
    done = run_tiedflow("run", output_dir=finished)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    states = newest_run_states(finished)
    executed = {c for c, state in states.items() if state == "COMPLETE"}
    if deleted in ORDER:
        assert f"recovering: pipeline_root/{deleted}/" in done.stdout, done.stdout
        assert deleted in executed and executed <= {deleted} | downstream(deleted), states
    else:  # nothing left to reuse: everything runs
        assert executed == set(ORDER), states
    now = pushed(finished)
    assert {v: now[v] for v in before} == before
    assert len(set(now) - set(before)) == (1 if "Pusher" in executed else 0)


# --- concurrency ---------------------------------------------------------------


def test_two_runs_on_two_output_dirs_at_once_both_succeed(tmp_path):
    runs = [BackgroundRun(output_dir=str(tmp_path / name)) for name in ("a", "b")]
    for run in runs:
        assert run.wait() == 0, run.stdout + run.stderr
        assert len(pushed(run.output_dir)) == 1
        assert set(newest_run_states(run.output_dir).values()) == {"COMPLETE"}


def test_sigterm_with_beam_worker_processes_stops_them_and_the_run(tmp_path):
    """With --direct_running_mode=multi_processing Beam's teardown waits for its
    SDK worker processes, which a SIGTERM to the run alone does not reach: the
    run would hang. It passes the signal on."""
    import psutil

    run = BackgroundRun(
        "--beam-arg=--direct_running_mode=multi_processing",
        "--beam-arg=--direct_num_workers=2",
        output_dir=str(tmp_path / "out"),
        pause_at="StatisticsGen",
        pause_on=r"Control channel established",
    )
    try:
        run.wait_until_paused()
        workers = psutil.Process(run.proc.pid).children(recursive=True)
        assert workers
        run.signal(signal.SIGTERM)
        assert run.wait(timeout=120) == 143, run.stdout + run.stderr
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert "interrupted by SIGTERM during StatisticsGen" in run.stderr
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, alive
