"""Ctrl-C and SIGTERM stop a command the same clean way.

Python turns SIGINT into KeyboardInterrupt; SIGTERM (what `kill`, systemd and
Kubernetes send) would end the process at once, with no message and the
ML Metadata store not told. Here both raise `Interrupted`, a KeyboardInterrupt,
in the main thread: TFX's launcher catches only `Exception`, so it unwinds
without recording the component as failed, Beam's in-process runner and
Keras' fit stop at their next Python step, and the command exits with the
shell's status for the signal (130 for SIGINT, 143 for SIGTERM).
"""
from __future__ import annotations

import contextlib
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; `exit_status` is 128 + its number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_status = 128 + signum
        self.during = None  # the component that was running, when known


def _raise(signum, frame):
    # A second signal ends the process at once (the default action), in case
    # something between here and the exit hangs.
    for each in SIGNALS:
        signal.signal(each, signal.SIG_DFL)
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise():
    """While the block runs, SIGINT and SIGTERM raise Interrupted (once: then a
    second signal ends the process at once, until the process exits)."""
    saved = {signum: signal.signal(signum, _raise) for signum in SIGNALS}
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if not interrupted:
            for signum, handler in saved.items():
                signal.signal(signum, handler)


def as_interrupted(err: KeyboardInterrupt) -> Interrupted:
    """A KeyboardInterrupt raised elsewhere (Ctrl-C outside the block) as SIGINT's."""
    return err if isinstance(err, Interrupted) else Interrupted(signal.SIGINT)
