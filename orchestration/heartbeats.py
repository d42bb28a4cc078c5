"""A flow run that `elt` runs ends as soon as its final state is set, without waiting on its
heartbeat thread.

Prefect emits a heartbeat event per flow run from a daemon thread that sleeps in 1 s steps
(`prefect.flow_engine._send_heartbeats`, Prefect 3.8). Its synchronous engine joins that thread
when the run ends, after the final state is set: on average 0.5 s added to every flow run and
to every `elt` command that runs one. Prefect's async engine already leaves the thread without
joining (`join_on_exit=False`): it sees the stop event at its next step and emits nothing more.
`end_runs_without_waiting_for_heartbeats()` makes the synchronous engine do the same, for the
runs of the process that calls it: `elt` calls it before it runs a flow
(`orchestration.cli._policy.run_flow`). Heartbeats (and the crash detection built on them) are
unchanged while the run lives. `tests/integration/test_heartbeats.py` fails if Prefect stops
calling `_send_heartbeats` or the engine's join is not skipped.

How often heartbeats come is a setting, not a patch: PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30 in
every process and pool we start (see `orchestration/__init__.py`, the work pools' base job
templates in deploy/, the image), because `automations/flow-run-lost.yaml` marks a run Crashed
90 s after its last heartbeat and Prefect's own default is one every 180 s.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["HEARTBEAT_SECONDS", "end_runs_without_waiting_for_heartbeats"]

HEARTBEAT_SECONDS = 30  # Prefect's minimum interval; flow-run-lost.yaml waits 3 of them

_MARK = "_elt_no_join"
ORIGINAL = "_elt_original"


def end_runs_without_waiting_for_heartbeats() -> None:
    """Make this process's synchronous flow runs leave their heartbeat thread unjoined."""
    import prefect.flow_engine as flow_engine

    original: Callable[..., AbstractContextManager[None]] | None = getattr(
        flow_engine, "_send_heartbeats", None
    )
    if original is None or getattr(original, _MARK, False):
        return  # another Prefect version (nothing to adjust: the test says so), or done already

    def send_heartbeats(engine: Any, join_on_exit: bool = True) -> AbstractContextManager[None]:
        return original(engine, join_on_exit=False)

    setattr(send_heartbeats, _MARK, True)
    setattr(send_heartbeats, ORIGINAL, original)  # Prefect's own, for the tests
    flow_engine._send_heartbeats = send_heartbeats  # type: ignore[assignment]
