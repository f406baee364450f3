"""A run you can watch: one line per component on the terminal, everything else in a log.

TFX's local runners log "Component X is running." / "... is finished." (the
BeamDagRunner says "node"), and the launcher whether it used a cached
execution; the Trainer logs one line per epoch (trainer.training). A logging
handler turns those records into progress lines. Everything else that a run
prints (library warnings, TensorFlow's and absl's logs, Beam's, even what C++
code writes to the process's stdout and stderr) goes to one log file per run:
by default the process's file descriptors 1 and 2 point at it while the
pipeline runs, and the progress lines go to the terminal saved before. With
`verbose` nothing is redirected and the log file gets the Python logs as well.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from names import EPOCH_LOG_PREFIX

RUNNING = re.compile(r"^(?:Component|node) (\S+) is running\.$")
FINISHED = re.compile(r"^(?:Component|node) (\S+) is finished\.$")
CACHED = re.compile(r"^A cached execution \d+ is used\.$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path_for(logs_dir: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S-%f")
    return os.path.join(logs_dir, f"run-{stamp}.log")


class ProgressHandler(logging.Handler):
    """Writes a line when a component starts and when it ends (executed or
    cached, seconds), and the Trainer's epochs in between."""

    def __init__(self, out: TextIO, components: Sequence[str] = ()):
        super().__init__(logging.INFO)
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.expect(components)
        self.started: dict[str, float] = {}
        self.cached: set = set()
        self.current: str | None = None
        self.ended: list = []  # (component, "executed" | "cached", seconds)
        self._bar = False  # an epoch line waiting to be overwritten (terminal only)

    def expect(self, components: Sequence[str]) -> None:
        """The pipeline's component ids, for the `[i/N]` counter (i: the order
        in which they start, which the runner picks among independent ones)."""
        self.total = len(components)
        self.order: dict[str, int] = {}

    def where(self) -> str:
        """What the run was doing: the component running, else between which."""
        if self.current:
            return self.current
        if not self.ended:
            return "start-up, before the first component"
        return f"the step after {self.ended[-1][0]}"

    def _label(self, node: str) -> str:
        if node not in self.order:
            self.order[node] = len(self.order) + 1
        return f"[{self.order[node]:>2}/{self.total}] {node}" if self.total else node

    def _write(self, text: str, transient: bool = False) -> None:
        if self.tty and self._bar:
            self.out.write("\r\033[K")
        self.out.write(text if transient and self.tty else text + "\n")
        self._bar = transient and self.tty
        self.out.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is not ours
            return
        if match := RUNNING.match(message):
            node = self.current = match.group(1)
            self.started[node] = time.monotonic()
            self._write(f"{self._label(node)} started")
        elif CACHED.match(message) and self.current:
            self.cached.add(self.current)
        elif match := FINISHED.match(message):
            node = match.group(1)
            seconds = time.monotonic() - self.started.get(node, time.monotonic())
            state = "cached" if node in self.cached else "executed"
            self.ended.append((node, state, seconds))
            self._write(f"{self._label(node)} {state} in {seconds:.1f} s")
            self.current = None
        elif message.startswith(EPOCH_LOG_PREFIX):
            self._write(f"        Trainer epoch {message[len(EPOCH_LOG_PREFIX) :]}", transient=True)


@contextlib.contextmanager
def watched_run(log_path: str, verbose: bool = False):
    """While the block runs: progress lines on the terminal, the rest in `log_path`.

    Yields the ProgressHandler (`expect(component ids)` once the pipeline is built)."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    root = logging.getLogger()
    saved_level = root.level
    root.setLevel(logging.INFO)
    file_handler = logging.FileHandler(log_path, mode="a")
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handlers: list[logging.Handler] = [file_handler]
    saved_fds = None
    sys.stdout.flush()
    sys.stderr.flush()
    if verbose:
        terminal = sys.stdout
        live = logging.StreamHandler(sys.stderr)
        live.setFormatter(logging.Formatter(logging.BASIC_FORMAT))  # WARNING:absl:...
        handlers.append(live)
    else:
        saved_fds = (os.dup(1), os.dup(2))
        terminal = os.fdopen(os.dup(saved_fds[0]), "w", buffering=1)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    progress = ProgressHandler(terminal)
    handlers.append(progress)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield progress
    except BaseException:
        terminal.write(f"the run's log: {log_path}\n")
        raise
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        file_handler.close()
        root.setLevel(saved_level)
        sys.stdout.flush()
        sys.stderr.flush()
        if saved_fds is not None:
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            terminal.close()
