"""Interrupted and killed runs resume; deleted artifacts are made again.

A sample of the kill-and-resume matrix (`make test-faults` runs all of it,
tests/test_faults_e2e.py): one output dir holding a model pushed before, then
a run stopped by SIGTERM inside StatisticsGen (a Beam component), one killed
(SIGKILL) while the Trainer trains, one stopped by Ctrl-C inside the Pusher,
and one that finishes. Each stop is checked as it happens and by the run
after it (tests/background_run.KillChain). Then folders deleted by hand
between runs: the next run makes them again.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import time

import pytest
from background_run import KillChain, newest_run_states, pushed
from conftest import run_tiedflow

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chain(pipeline_run, tmp_path_factory) -> KillChain:
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    out = tmp_path_factory.mktemp("interrupt") / "out"
    shutil.copytree(os.path.join(pipeline_run.output_dir, "serving"), out / "serving")
    return KillChain(str(out))


def test_sigterm_in_a_beam_component_stops_cleanly_and_a_second_run_is_refused(chain):
    refused = []

    def second_run(paused):
        start = time.monotonic()
        refused.append(
            (
                run_tiedflow("run", output_dir=chain.output_dir),
                time.monotonic() - start,
                paused.proc.pid,
            )
        )

    chain.stop_during("StatisticsGen", signal.SIGTERM, while_paused=second_run)
    ((second, seconds, pid),) = refused
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"another run is using it (pid {pid})" in second.stderr, second.stderr
    assert "Traceback" not in second.stdout + second.stderr
    assert seconds < 60  # refused before TensorFlow loads, not after a wait


def test_sigkill_while_training_then_resume(chain):
    chain.stop_during("Trainer", signal.SIGKILL)


def test_ctrl_c_in_the_pusher_pushes_nothing(chain):
    chain.stop_during("Pusher", signal.SIGINT)


def test_the_next_run_finishes_and_pushes_once(chain):
    chain.finish()


def test_deleted_folders_are_made_again(chain):
    """A pushed version and a split folder of a cached artifact, deleted by hand:
    TFX's cache would reuse both records (it checks an artifact's folder, not
    what is in it, nor where a model was pushed)."""
    out = chain.output_dir
    (version,) = set(pushed(out)) - set(chain.before)
    shutil.rmtree(os.path.join(out, "serving", version))
    (split,) = glob.glob(
        os.path.join(out, "pipeline_root", "ExampleValidator", "anomalies", "*", "Split-eval")
    )
    shutil.rmtree(split)
    done = run_tiedflow("run", output_dir=out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"recovering: {os.path.relpath(split, out)}, serving/{version} deleted" in done.stdout
    states = newest_run_states(out)
    assert {c for c, s in states.items() if s == "COMPLETE"} == {"ExampleValidator", "Pusher"}, (
        states
    )
    now = pushed(out)
    assert len(set(now) - set(chain.before)) == 1 and version not in now
    assert {v: now[v] for v in chain.before} == chain.before
