"""Ctrl-C and SIGTERM end a run as Cancelled, within seconds, whatever it is doing.

A signal reaches Python in the main thread only: as KeyboardInterrupt (SIGINT), as Prefect's
TerminationSignal (SIGTERM, while a flow runs: Prefect's own handler), or as `Interrupted`
(SIGTERM outside a flow, from `install()`). Left alone, the flow engine records the run as
Crashed, and the process then waits for its worker threads (an Airbyte sync retrying through
an outage, a wait for a concurrency slot) for as long as they run: minutes, or an hour.

So a signal also sets `STOP`, which every wait of the work threads watches (`wait`), and each
flow turns the interruption into a Cancelled state (`cancel_on_interrupt`), after its work
has stopped and cleaned up (an Airbyte job it started is cancelled and the cancel read back).

Unless Prefect's supervisor (`prefect flow-run execute`, how a Kubernetes Job runs a flow)
owns the run's next state: a SIGTERM it passes on with the intent to reschedule the run (its
pod is evicted or drained; PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR, set by the Kubernetes
worker) is no cancel. Then the work stops without cancelling what runs outside (the next
attempt attaches to the Airbyte job) and the flow leaves the state to the supervisor
(`handed_over`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "STOP",
    "Interrupted",
    "Stopped",
    "calling_on_signals",
    "cancel_on_interrupt",
    "exit_when_stop_overruns",
    "forget_stop",
    "handed_over",
    "handle",
    "install",
    "is_interruption",
    "redeliver",
    "shielded",
    "signal_name",
    "signals_as_keyboard_interrupt",
    "stop_signal",
    "wait",
]

P = ParamSpec("P")
R = TypeVar("R")

STOP = threading.Event()  # set once the process is told to stop
_received: list[int] = []  # the signals, in order
_thread = threading.local()  # `shielded`: this thread is cleaning up


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread as Ctrl-C (dbt cancels its queries)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stopped(Exception):
    """Raised in a work thread by `wait` once the process is told to stop."""


def install() -> None:
    """Handle SIGINT and SIGTERM in this process (the main thread only): the first one asks
    the work to stop and interrupts the main thread; a second one exits at once."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)


def handle(signum: int, frame: Any) -> None:
    """The handler `install` sets: record the signal, stop the work, interrupt the main
    thread; exit at once when told twice.

    Not while the main thread is in Prefect's engine between two bodies of ours (starting a
    run, setting a state, finishing a task): an exception there makes the engine end the run
    Crashed. The stop is then taken at the next body's start or end, or by the flow's next
    task call (`unless_cancelled`), and the run ends Cancelled."""
    if _redelivering.is_set():  # ours (`redeliver`), not the user's second signal
        _redelivering.clear()
    else:
        _note(signum)
    if not _in_prefect_engine(frame):
        raise Interrupted(signum)


_redelivering = threading.Event()


def redeliver() -> None:
    """Raise the stop in the main thread again, as its signal did, for work that lost the
    exception the signal raised there (it landed in a finalizer or a weakref callback, where
    Python prints "Exception ignored" and goes on). It is not a second signal: the process is
    not ended at once. Only where `handle` is the main thread's handler."""
    if signal.getsignal(stop_signal()) is handle:
        _redelivering.set()  # a real signal, to the main thread: it wakes a blocked wait
        signal.pthread_kill(threading.main_thread().ident or 0, stop_signal())


ENGINE_MODULES = ("prefect.flow_engine", "prefect.task_engine")


def _in_prefect_engine(frame: Any) -> bool:
    """Whether the innermost of our bodies and Prefect's engine around `frame` is the engine
    (a body's own calls into Prefect, e.g. an artifact, are the body's)."""
    engine = {
        module.__file__ for name in ENGINE_MODULES if (module := sys.modules.get(name)) is not None
    }
    while frame is not None:
        if frame.f_code is _BODY_CODE:
            return False
        if frame.f_code.co_filename in engine:
            return True
        frame = frame.f_back
    return False


def stop_signal() -> int:
    """The signal that told the process to stop (SIGINT when it was told another way)."""
    return _received[0] if _received else signal.SIGINT


def forget_stop() -> None:
    """Forget a stop that was handled, for a process that goes on to other work afterwards (a
    test session running many commands' flows in one process): once told to stop, every
    later run of this process would end Cancelled at its start."""
    STOP.clear()
    _received.clear()
    _redelivering.clear()


def _note(signum: int) -> None:
    if STOP.is_set():  # told twice: no more cleaning up
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    request(signum)


@contextlib.contextmanager
def calling_on_signals(callback: Callable[[int], None]) -> Iterator[Callable[[int, Any], None]]:
    """While inside, SIGINT and SIGTERM record the signal, set STOP and call
    `callback(signum)` (in the main thread) instead of raising there; a second one exits at
    once. For loops that stop themselves: an exception raised by a signal handler is lost when
    the signal lands in a finalizer or a weakref callback (Python prints "Exception ignored"
    and goes on). Yields the handler, for code that installs its own (Prefect's runner)."""

    def handler(signum: int, frame: Any) -> None:
        _note(signum)
        callback(signum)

    if threading.current_thread() is not threading.main_thread():
        yield handler  # signals cannot reach this code anyway
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield handler
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def request(signum: int) -> None:
    """Record the signal and tell every waiting thread to stop."""
    _received.append(signum)
    STOP.set()


def exit_when_stop_overruns(seconds: float, what: str) -> None:
    """Once the process is told to stop, give it `seconds` to end, then end it (exit code
    128 + the signal's number) with one line on stderr. For a long-running command whose
    shutdown runs code that is not ours (Prefect's runner: pausing schedules, cancelling its
    runs, joining its threads): the stop has a deadline whatever that code waits on."""

    def watch() -> None:
        STOP.wait()
        time.sleep(seconds)
        print(
            f"error: {what} did not stop within {seconds:.0f} s of {signal_name()}: exiting now",
            file=sys.stderr,
            flush=True,
        )
        os._exit(exit_code())

    threading.Thread(target=watch, name="stop-deadline", daemon=True).start()


def signal_name() -> str:
    return signal.Signals(_received[0]).name if _received else "an interrupt"


def exit_code() -> int:
    """128 + the signal's number, as a shell reports a process ended by it."""
    return 128 + stop_signal()


def wait(seconds: float) -> None:
    """Sleep `seconds`, unless the process is told to stop meanwhile: then raise Stopped
    (except while this thread cleans up, see `shielded`)."""
    if getattr(_thread, "shielded", False):
        time.sleep(max(seconds, 0.0))
    elif STOP.wait(max(seconds, 0.0)):
        raise Stopped(f"stopped: {signal_name()} received")


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Clean-up that must not be stopped by STOP (cancelling an Airbyte job retries through
    `wait`); it keeps its own, short, deadline."""
    before = getattr(_thread, "shielded", False)
    _thread.shielded = True
    try:
        yield
    finally:
        _thread.shielded = before


@contextlib.contextmanager
def signals_as_keyboard_interrupt() -> Iterator[None]:
    """While dbt runs in the main thread, SIGINT and SIGTERM raise `Interrupted`, a
    KeyboardInterrupt, which dbt answers as it answers Ctrl-C: it cancels its open queries and
    writes its run results. (Prefect's own SIGTERM handler raises an exception dbt does not
    know.) The handler also sets STOP, whoever installed the one before (a worker's run)."""
    previous: dict[int, Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handle)
    except ValueError:  # not the main thread: signals cannot reach this code anyway
        yield
        return
    try:
        yield
    finally:
        for restored, old in previous.items():
            signal.signal(restored, old)


def is_interruption(exc: BaseException) -> bool:
    """Ctrl-C, SIGTERM (ours or Prefect's TerminationSignal), a stopped wait, or a subflow
    that ended Cancelled because of one; or any exception raised while one of those was
    propagating. Records the signal and sets STOP.

    The last case is a signal that landed inside a lock's wait: its exception leaves
    `threading.Condition.wait` without the lock re-acquired, and the `with` around it then
    raises "RuntimeError: release unlocked lock", with the signal's exception only as its
    context. The run was still told to stop, not broken."""
    return any(_is_interruption_itself(link) for link in _raised_while_handling(exc))


def _raised_while_handling(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then the exception it was raised while handling, and so on (cycle-safe)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__context__


def _is_interruption_itself(exc: BaseException) -> bool:
    from prefect.exceptions import CancelledRun, TerminationSignal

    if isinstance(exc, TerminationSignal):
        request(exc.signal)
    elif isinstance(exc, Interrupted):
        pass  # recorded by the handler
    elif isinstance(exc, KeyboardInterrupt):
        if not STOP.is_set():
            request(signal.SIGINT)
    elif not (isinstance(exc, Stopped | CancelledRun) and STOP.is_set()):
        return False
    STOP.set()
    return True


def handed_over() -> bool:
    """Whether this stop is Prefect's supervisor rescheduling the run (or leaving it to the
    infrastructure's retry), rather than a cancel: its control intent, which it delivers
    before the signal."""
    from orchestration.upstream import control_intent

    return control_intent() in ("reschedule", "relinquish")


def unless_cancelled(value: R) -> R:
    """The value of a task called directly, or Stopped when the task ended Cancelled (a
    task's returned state comes back to its caller as its value; it raises nothing)."""
    from prefect.states import State

    if isinstance(value, State) and value.is_cancelled():
        raise Stopped(value.message or "cancelled")
    return value


def cancel_on_interrupt(fn: Callable[P, R]) -> Callable[P, R]:
    """Under `@flow` or `@task`: an interruption of the body ends its run Cancelled (and the
    caller gets Prefect's CancelledRun, which its own wrapper turns into Cancelled too)
    instead of Crashed or Failed. A flow run's start is announced (`on_flow_run_start`)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _announce_flow_run()
        try:
            if STOP.is_set():  # told to stop while the engine started this run
                raise Interrupted(stop_signal())
            result = fn(*args, **kwargs)
            if STOP.is_set() and _received:  # told while the engine finished a task of it
                raise Interrupted(stop_signal())
            return result
        except BaseException as exc:
            if not is_interruption(exc):
                raise
            if handed_over():  # the supervisor proposes the run's next state: none from here
                from prefect.exceptions import TerminationSignal

                raise TerminationSignal(signal=signal.SIGTERM) from exc
            from prefect.states import Cancelled

            return Cancelled(message=f"cancelled: {signal_name()} received")  # type: ignore[return-value]

    _resolve_annotations(wrapper, fn)
    return wrapper


_flow_run_hooks: list[Callable[[str], None]] = []


def on_flow_run_start(hook: Callable[[str], None]) -> None:
    """Call `hook(flow_run_id)` as each flow run of this process starts its body (once per
    hook): the one wrapper every flow of this project has (`orchestration.server.lost_runs` records
    the runs of a process this way)."""
    if hook not in _flow_run_hooks:
        _flow_run_hooks.append(hook)


def _announce_flow_run() -> None:
    if not _flow_run_hooks:
        return
    from prefect.context import FlowRunContext, TaskRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or TaskRunContext.get() is not None:
        return  # a task run's body
    for hook in _flow_run_hooks:
        hook(str(context.flow_run.id))


def _resolve_annotations(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> None:
    """Prefect validates a flow's parameters against the annotations, resolving names in the
    *wrapper's* module: hand it the types themselves, resolved in the flow's module."""
    try:
        hints = typing.get_type_hints(fn)
    except NameError:  # a name only imported for type checking: leave them as they are
        return
    signature = inspect.signature(fn)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    returns = hints.get("return", signature.return_annotation)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=returns
    )
    wrapper.__annotations__ = hints


_BODY_CODE = cancel_on_interrupt(lambda: None).__code__  # every body's wrapper shares it
