"""`tiedflow run` in the background: wait for its progress lines, pause it inside a
component (tests/fault_injection), signal it, collect what it printed.

Imported as `import background_run` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import glob
import os
import queue
import re
import signal
import subprocess
import threading
import time

from conftest import REPO, TIEDFLOW

HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fault_injection")


class BackgroundRun:
    """One `tiedflow run` in its own session (so a Ctrl-C to its process group
    reaches it and its children only)."""

    def __init__(
        self,
        *args: str,
        output_dir: str,
        pause_at: str | None = None,
        pause_on: str | None = None,
        env: dict | None = None,
    ):
        env = {**os.environ, **(env or {})}
        if pause_at:
            env["TIEDFLOW_PAUSE_AT"] = pause_at
            if pause_on:
                env["TIEDFLOW_PAUSE_ON"] = pause_on
            env["PYTHONPATH"] = os.pathsep.join(p for p in (HOOK_DIR, env.get("PYTHONPATH")) if p)
        self.output_dir, self.pause_at = output_dir, pause_at
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [TIEDFLOW, "run", *args, "--output-dir", output_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._eof = False
        self._new: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self._new), daemon=True).start()
        self._err = threading.Thread(
            target=lambda: self._stderr.append(self.proc.stderr.read()), daemon=True
        )
        self._err.start()

    @staticmethod
    def _read(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def wait_for_line(self, pattern: str, timeout: float = 600) -> str:
        """The first stdout line (from now on) matching `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} in {timeout} s:\n" + "\n".join(self.lines[-30:])
                ) from None
            if line is None:
                self._eof = True
                raise AssertionError(
                    f"the run ended before a line matching {pattern!r}:\n"
                    + "\n".join(self.lines[-30:])
                    + self.stderr
                )
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def wait_until_paused(self, timeout: float = 600) -> None:
        """Until the process has stopped itself (the fault-injection hook)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the run ended (exit {self.proc.returncode}) before "
                    "pausing:\n" + self.stdout + self.stderr
                )
            with open(f"/proc/{self.proc.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "T":
                return
            time.sleep(0.05)
        raise AssertionError(f"the run did not pause in {timeout} s:\n" + self.stdout)

    def signal(self, signum: int) -> None:
        """SIGINT as Ctrl-C sends it (to the process group), any other signal to
        the process alone; a paused process is continued to receive it."""
        if signum == signal.SIGINT:
            os.killpg(self.proc.pid, signum)
        else:
            os.kill(self.proc.pid, signum)
        if signum != signal.SIGKILL:
            os.kill(self.proc.pid, signal.SIGCONT)

    def wait(self, timeout: float = 900) -> int:
        code = self.proc.wait(timeout=timeout)
        self.seconds = time.monotonic() - self.started
        self._err.join(timeout=30)
        while not self._eof:
            line = self._new.get(timeout=30)
            self._eof = line is None
            if line is not None:
                self.lines.append(line)
        return code

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)


# ---------------------------------------------------------------------------
# Kill and resume: a chain of runs on one output dir, each stopped inside the
# next component, then one that finishes (tests/test_interrupt_e2e.py samples
# it, tests/test_faults_e2e.py runs the whole matrix).

# The order LocalDagRunner runs the components in (checked on the progress lines).
ORDER = (
    "ImageExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Transform",
    "Trainer",
    "LatestPushedModel",
    "Evaluator",
    "EvaluationReport",
    "Pusher",
)
# Where inside a component a run is stopped: at a message its work logs half
# way, else as its executor starts (its execution already RUNNING in ML Metadata).
PAUSE_ON = {"StatisticsGen": r"^BatchElements statistics", "Trainer": r"^tiedflow: epoch 1/"}
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


def tree_digest(folder: str) -> dict:
    """Relative path -> sha256 of every file under `folder`."""
    import hashlib

    digests = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def pushed(output_dir: str) -> dict:
    """Pushed version -> tree_digest, for every version folder under serving/."""
    serving = os.path.join(output_dir, "serving")
    return {
        name: tree_digest(os.path.join(serving, name))
        for name in (os.listdir(serving) if os.path.isdir(serving) else [])
        if name.isdigit()
    }


def newest_run_states(output_dir: str) -> dict:
    """Component -> its execution's state (COMPLETE, CACHED, RUNNING, CANCELED...)
    in the newest run recorded in the output dir's ML Metadata."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.local.outcome import open_store, run_contexts

    store = open_store(os.path.join(output_dir, "metadata.sqlite"))
    node_type = {t.id for t in store.get_context_types() if t.name == "node"}
    run = run_contexts(store, "tiedflow")[0]
    states = {}
    for execution in store.get_executions_by_context(run.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type_id in node_type:
                states[context.name.split(".", 1)[1]] = metadata_store_pb2.Execution.State.Name(
                    execution.last_known_state
                )
    return states


def unfinished_executions(output_dir: str) -> list:
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.local.outcome import open_store

    store = open_store(os.path.join(output_dir, "metadata.sqlite"))
    return [
        e.id
        for e in store.get_executions()
        if e.last_known_state
        in (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)
    ]


def stopped_executions(output_dir: str) -> list:
    """(component, execution id) of every execution recorded CANCELED or FAILED."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.local.outcome import open_store

    store = open_store(os.path.join(output_dir, "metadata.sqlite"))
    node_type = {t.id for t in store.get_context_types() if t.name == "node"}
    return [
        (c.name.split(".", 1)[1], e.id)
        for e in store.get_executions()
        if e.last_known_state
        in (metadata_store_pb2.Execution.CANCELED, metadata_store_pb2.Execution.FAILED)
        for c in store.get_contexts_by_execution(e.id)
        if c.type_id in node_type
    ]


class KillChain:
    """Runs on one output dir, each stopped inside a component by a signal, and
    each checked: how it ended, what it reused from the runs before, that
    nothing was pushed and the models pushed before are byte for byte the same."""

    def __init__(self, output_dir: str, *args: str):
        self.output_dir, self.args = output_dir, args
        self.before = pushed(output_dir)  # models pushed before the chain
        self.done: list = []  # components finished by earlier runs
        self.runs: list = []

    def stop_during(self, component: str, signum: int, while_paused=None) -> BackgroundRun:
        run = BackgroundRun(
            *self.args,
            output_dir=self.output_dir,
            pause_at=component,
            pause_on=PAUSE_ON.get(component),
        )
        try:
            run.wait_until_paused()
            if while_paused is not None:
                while_paused(run)
            run.signal(signum)
            code = run.wait()
        finally:
            if run.proc.poll() is None:  # a failed check: no run left stopped, holding the lock
                run.proc.kill()
                run.proc.wait()
        self._check_resumed(run)
        self.runs.append(run)
        assert code == EXIT_STATUS[signum], (code, run.stdout, run.stderr)
        terminal = run.stdout + run.stderr
        assert "Traceback" not in terminal, terminal
        assert re.search(rf"\] {component} started$", run.stdout, re.M), run.stdout
        if signum != signal.SIGKILL:
            assert run.stderr.strip().splitlines()[-1] == (
                f"tiedflow: interrupted by {signal.Signals(signum).name} during {component}; "
                "run the same command again to resume: finished components are reused"
            ), run.stderr
        states = newest_run_states(self.output_dir)
        self._check_reused(states, upto=component)
        # Killed: still RUNNING until the next run. Interrupted: CANCELED at once, or
        # FAILED when Beam turned the interruption into an error (TFX records that).
        assert states[component] in (
            ("RUNNING",) if signum == signal.SIGKILL else ("CANCELED", "FAILED")
        ), states
        assert not set(states) - set(ORDER[: ORDER.index(component) + 1]), states
        self._check_nothing_pushed()
        self.done = [c for c, state in states.items() if state in ("COMPLETE", "CACHED")]
        return run

    def finish(self) -> BackgroundRun:
        run = BackgroundRun(*self.args, output_dir=self.output_dir)
        code = run.wait()
        self._check_resumed(run)
        self.runs.append(run)
        assert code == 0, (code, run.stdout, run.stderr)
        states = newest_run_states(self.output_dir)
        self._check_reused(states, upto=None)
        assert set(states) == set(ORDER), states
        now = pushed(self.output_dir)
        assert len(set(now) - set(self.before)) == 1, (sorted(self.before), sorted(now))
        assert {v: now[v] for v in self.before} == self.before
        assert not unfinished_executions(self.output_dir)
        root = os.path.join(self.output_dir, "pipeline_root")
        for component, execution_id in stopped_executions(self.output_dir):
            assert not glob.glob(os.path.join(root, component, "*", str(execution_id)))
        return run

    def _check_resumed(self, run: BackgroundRun) -> None:
        """After a SIGKILL the next run says which component it found stopped."""
        if self.runs and self.runs[-1].proc.returncode == -signal.SIGKILL:
            stopped = self.runs[-1].pause_at
            assert re.search(
                rf"^resuming: a previous run stopped during {stopped};", run.stdout, re.M
            ), run.stdout

    def _check_reused(self, states: dict, upto) -> None:
        """What earlier runs finished is reused (CACHED); what they did not
        finish, before `upto`, is executed (COMPLETE)."""
        for component in ORDER[: ORDER.index(upto) if upto else len(ORDER)]:
            expected = "CACHED" if component in self.done else "COMPLETE"
            assert states.get(component) == expected, (component, states, self.done)

    def _check_nothing_pushed(self) -> None:
        assert pushed(self.output_dir) == self.before
