"""Ctrl-C and SIGTERM stop a command the same clean way.

Python turns SIGINT into KeyboardInterrupt; SIGTERM (what `kill`, systemd and
Kubernetes send) would end the process at once, with no message and the
ML Metadata store not told. Here both raise `Interrupted`, a KeyboardInterrupt,
in the main thread, where Keras' fit and Beam's in-process runner stop at
their next Python step (Beam re-raises it as a RuntimeError naming the
transform: `stopped_by` sees through that), and the command exits with the
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


_received: list = []  # the signal that interrupted this process, once one has


def _raise(signum, frame):
    # A second signal ends the process at once (the default action), in case
    # something between here and the exit hangs.
    for each in SIGNALS:
        signal.signal(each, signal.SIG_DFL)
    _received.append(signum)
    _stop_children()
    raise Interrupted(signum)


def _stop_children() -> None:
    """Beam's multi-processing SDK workers are child processes that its teardown
    waits for, forever once the pipeline is interrupted. Ctrl-C in a terminal
    reaches them through the process group; a SIGTERM sent to this process
    alone does not: they are sent one."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass


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


def stopped_by(err: BaseException) -> Interrupted | None:
    """The interruption `err` stands for, if any. Beam turns an exception raised
    inside a transform into a RuntimeError naming the step, so a signal received
    counts whatever exception it ended as; a KeyboardInterrupt raised outside
    the block (Ctrl-C before it) counts as SIGINT."""
    if isinstance(err, Interrupted):
        return err
    if _received:
        return Interrupted(_received[0])
    if isinstance(err, KeyboardInterrupt):
        return Interrupted(signal.SIGINT)
    return None
