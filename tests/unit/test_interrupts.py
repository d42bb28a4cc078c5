"""A signal ends a run Cancelled wherever it lands, in-process: the exception the signal
raises, and what Python makes of it when it lands inside a lock's wait."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prefect.exceptions import TerminationSignal

from orchestration.runtime import interrupts


@pytest.fixture(autouse=True)
def no_stop_left() -> Iterator[None]:
    interrupts.forget_stop()
    yield
    interrupts.forget_stop()


def landing_in_acquire_restore(signum: int) -> Any:
    """A trace function that raises what Prefect's SIGTERM handler raises, at the moment a
    `threading.Condition.wait` calls `_acquire_restore` to take its lock back: where a real
    signal landed in CI (an exception raised by a trace function propagates into the traced
    code, as a signal handler's does)."""
    fired = []

    def trace(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        if (
            event == "call"
            and not fired
            and code.co_name == "_acquire_restore"
            and code.co_filename == threading.__file__
        ):
            fired.append(True)
            raise TerminationSignal(signal=signum)
        return None

    return trace


def wait_on_an_event() -> None:
    """What a flow does while its tasks run: wait on an Event (Prefect's `wait(futures)`)."""
    threading.Event().wait(0.01)


def test_a_signal_inside_a_locks_wait_surfaces_as_release_unlocked_lock() -> None:
    """The premise: Python itself turns that landing into a RuntimeError whose context is the
    signal's exception (if this ever changes, the chain walk below is no longer needed)."""
    sys.settrace(landing_in_acquire_restore(signal.SIGTERM))
    try:
        with pytest.raises(RuntimeError, match="release unlocked lock") as raised:
            wait_on_an_event()
    finally:
        sys.settrace(None)
    assert isinstance(raised.value.__context__, TerminationSignal)


def test_a_signal_inside_a_locks_wait_still_ends_the_run_cancelled() -> None:
    body = interrupts.cancel_on_interrupt(wait_on_an_event)
    sys.settrace(landing_in_acquire_restore(signal.SIGTERM))
    try:
        state: Any = body()
    finally:
        sys.settrace(None)
    assert state.is_cancelled()
    assert state.message == "cancelled: SIGTERM received"
    assert interrupts.STOP.is_set()


def test_an_error_raised_while_handling_an_interruption_is_that_interruption() -> None:
    try:
        try:
            raise KeyboardInterrupt
        finally:
            raise OSError("a clean-up failed")
    except OSError as exc:
        assert interrupts.is_interruption(exc)
    assert interrupts.stop_signal() == signal.SIGINT


def test_an_ordinary_error_is_not_an_interruption() -> None:
    try:
        try:
            raise ValueError("a bad row")
        finally:
            raise RuntimeError("and a clean-up failed")
    except RuntimeError as exc:
        assert not interrupts.is_interruption(exc)
    assert not interrupts.STOP.is_set()


def test_a_stopped_wait_is_an_interruption_only_once_the_process_was_told_to_stop() -> None:
    assert not interrupts.is_interruption(interrupts.Stopped("stopped"))
    interrupts.request(signal.SIGTERM)
    assert interrupts.is_interruption(interrupts.Stopped("stopped"))
    assert interrupts.signal_name() == "SIGTERM"
    assert interrupts.exit_code() == 128 + signal.SIGTERM
