"""A flow run ends as soon as its final state is set, without waiting on its heartbeat thread.

Prefect emits a heartbeat event per flow run from a daemon thread that sleeps in 1 s steps
(`prefect.flow_engine._send_heartbeats`, Prefect 3.8). Its synchronous engine joins that thread
when the run ends, after the final state is set: on average 0.5 s added to every flow run and
to every `elt` command that runs one. Prefect's async engine already leaves the thread without
joining (`join_on_exit=False`): it sees the stop event at its next step and emits nothing more.
This makes the synchronous engine do the same; heartbeats (and crash detection built on them)
are unchanged while the run lives.

Heartbeats are also on by default (every 30 s, Prefect's minimum, unless
PREFECT_FLOWS_HEARTBEAT_FREQUENCY says otherwise): without them the server cannot tell a run
whose process was killed from a long one, and a SIGKILLed run stays Running forever.
`automations/flow-run-lost.yaml` marks a run Crashed 90 s after its last heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "end_runs_without_waiting_for_heartbeats",
    "send_heartbeats_by_default",
]

DEFAULT_HEARTBEAT_SECONDS = 30  # Prefect's minimum interval

_MARK = "_elt_no_join"


def end_runs_without_waiting_for_heartbeats() -> None:
    import prefect.flow_engine as flow_engine

    original: Callable[..., AbstractContextManager[None]] | None = getattr(
        flow_engine, "_send_heartbeats", None
    )
    if original is None or getattr(original, _MARK, False):
        return  # another Prefect version (nothing to adjust), or done already

    def send_heartbeats(engine: Any, join_on_exit: bool = True) -> AbstractContextManager[None]:
        return original(engine, join_on_exit=False)

    setattr(send_heartbeats, _MARK, True)
    flow_engine._send_heartbeats = send_heartbeats  # type: ignore[assignment]


def send_heartbeats_by_default() -> None:
    """A flow run sends heartbeats every DEFAULT_HEARTBEAT_SECONDS when no frequency is set."""
    from prefect.flow_engine import BaseFlowRunEngine

    setting = BaseFlowRunEngine.heartbeat_seconds
    if not isinstance(setting, property) or getattr(setting.fget, _MARK, False):
        return  # another Prefect version, or done already

    def heartbeat_seconds(engine: Any) -> int:
        value = setting.fget(engine)
        return DEFAULT_HEARTBEAT_SECONDS if value is None else value

    setattr(heartbeat_seconds, _MARK, True)
    BaseFlowRunEngine.heartbeat_seconds = property(heartbeat_seconds)
