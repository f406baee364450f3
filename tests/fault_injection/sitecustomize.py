"""Test-only fault injection, loaded by Python at start-up when this folder is on
PYTHONPATH (tests/background_run.py puts it there).

With TIEDFLOW_PAUSE_AT=<component id> the process stops itself (SIGSTOP) once
that component's execution is recorded as running in ML Metadata and its
executor is about to start, or, with TIEDFLOW_PAUSE_ON=<regex>, at the first
log message matching it after that. A test then kills it there, at a known
point inside the component, however fast the component is. It only watches
the log records TFX's launcher writes anyway; nothing in the run is replaced.
"""

import logging
import os
import re
import signal

_TARGET = os.environ.get("TIEDFLOW_PAUSE_AT")
_RUNNING = re.compile(r"^(?:Component|node) (\S+) is running\.$")
_EXECUTING = re.compile(r"^Going to run a new execution: ")


class _PauseHandler(logging.Handler):
    def __init__(self, target: str, then: str):
        super().__init__(logging.INFO)
        self.target, self.then = target, re.compile(then) if then else None
        self.current = None
        self.executing = False
        self.done = False

    def emit(self, record):
        if self.done:
            return
        try:
            message = record.getMessage()
        except Exception:
            return
        if match := _RUNNING.match(message):
            self.current, self.executing = match.group(1), False
            return
        if self.current != self.target:
            return
        if not self.executing:
            self.executing = bool(_EXECUTING.match(message))
            if not self.executing or self.then:
                return
        elif not self.then.search(message):
            return
        self.done = True
        os.kill(os.getpid(), signal.SIGSTOP)


if _TARGET:
    logging.getLogger().addHandler(_PauseHandler(_TARGET, os.environ.get("TIEDFLOW_PAUSE_ON")))
