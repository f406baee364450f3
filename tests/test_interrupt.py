"""pipeline.interrupt: SIGTERM and SIGINT raise one exception with the shell's exit
status, also when a library wrapped it on the way out."""

from __future__ import annotations

import os
import signal

import pytest

from pipeline.local import interrupt


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(interrupt, "_received", [])
    saved = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_raises_interrupted_with_the_shells_status(signum, status):
    with pytest.raises(interrupt.Interrupted) as raised:
        with interrupt.signals_raise():
            os.kill(os.getpid(), signum)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
    assert raised.value.exit_status == status
    assert interrupt.stopped_by(raised.value) is raised.value
    # A second signal would end the process: the handlers are the defaults now.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_wrapped_interruption_is_still_one():
    """Beam re-raises what a transform raised as a RuntimeError naming the step."""
    with pytest.raises(RuntimeError) as raised:
        with interrupt.signals_raise():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
            except interrupt.Interrupted as err:
                raise RuntimeError(f"{err!r} [while running 'Read']") from None
    assert interrupt.stopped_by(raised.value).exit_status == 143


def test_other_errors_are_not_interruptions_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ValueError):
        with interrupt.signals_raise():
            raise ValueError("bad")
    assert interrupt.stopped_by(ValueError("bad")) is None
    assert interrupt.stopped_by(KeyboardInterrupt()).exit_status == 130  # Ctrl-C before
    assert signal.getsignal(signal.SIGTERM) == before
