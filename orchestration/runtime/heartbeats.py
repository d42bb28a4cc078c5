"""A flow run that `elt` runs ends as soon as its final state is set, without waiting on its
heartbeat thread.

Prefect emits a heartbeat event per flow run from a daemon thread that sleeps in 1 s steps
(`prefect.flow_engine._send_heartbeats`, still in Prefect 3.9). Its synchronous engine joins
that thread when the run ends, after the final state is set: on average 0.5 s added to every
flow run and to every `elt` command that runs one. Prefect's async engine already leaves the
thread without joining (`join_on_exit=False`): it sees the stop event at its next step and
emits nothing more. `end_runs_without_waiting_for_heartbeats()` makes the synchronous engine do
the same, for the runs of the process that calls it: `elt` calls it before it runs a flow
(`orchestration.cli._policy.run_flow`). Heartbeats (and the crash detection built on them) are
unchanged while the run lives. The private symbol is reached through `orchestration.upstream`;
`tests/integration/test_heartbeats.py` fails if the engine's join is not skipped.

How often heartbeats come is a setting, not a patch: PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30 in
every process and pool we start (see `orchestration/__init__.py`, the work pools' base job
templates in deploy/, the image), because `automations/flow-run-lost.yaml` marks a run Crashed
90 s after its last heartbeat and Prefect's own default is one every 180 s.
"""

from __future__ import annotations

from orchestration import upstream

__all__ = ["HEARTBEAT_SECONDS", "end_runs_without_waiting_for_heartbeats"]

HEARTBEAT_SECONDS = 30  # Prefect's minimum interval; flow-run-lost.yaml waits 3 of them


def end_runs_without_waiting_for_heartbeats() -> None:
    """Make this process's synchronous flow runs leave their heartbeat thread unjoined."""
    upstream.leave_heartbeat_threads_unjoined()
