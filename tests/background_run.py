"""`tiedflow run` in the background: wait for its progress lines, pause it inside a
component (tests/fault_injection), signal it, collect what it printed.

Imported as `import background_run` (pytest puts tests/ on sys.path).
"""
from __future__ import annotations

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

    def __init__(self, *args: str, output_dir: str, pause_at: str | None = None,
                 pause_on: str | None = None, env: dict | None = None):
        env = {**os.environ, **(env or {})}
        if pause_at:
            env["TIEDFLOW_PAUSE_AT"] = pause_at
            if pause_on:
                env["TIEDFLOW_PAUSE_ON"] = pause_on
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (HOOK_DIR, env.get("PYTHONPATH")) if p)
        self.output_dir = output_dir
        self.started = time.monotonic()
        self.proc = subprocess.Popen([TIEDFLOW, "run", *args, "--output-dir", output_dir],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=REPO, env=env, start_new_session=True)
        self.lines: list[str] = []
        self._eof = False
        self._new: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self._new), daemon=True).start()
        self._err = threading.Thread(target=lambda: self._stderr.append(self.proc.stderr.read()),
                                     daemon=True)
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
                raise AssertionError(f"no line matching {pattern!r} in {timeout} s:\n"
                                     + "\n".join(self.lines[-30:])) from None
            if line is None:
                self._eof = True
                raise AssertionError(f"the run ended before a line matching {pattern!r}:\n"
                                     + "\n".join(self.lines[-30:]) + self.stderr)
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def wait_until_paused(self, timeout: float = 600) -> None:
        """Until the process has stopped itself (the fault-injection hook)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended (exit {self.proc.returncode}) before "
                                     "pausing:\n" + self.stdout + self.stderr)
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
