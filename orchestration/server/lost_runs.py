"""Runs on the local server whose process died are marked Crashed: none stays Running forever.

A flow run's process sets its final state itself. Killed (`kill -9`, out of memory, a closed
laptop lid that never reopens), it sets none, and the run stays Running in the UI and holds
what it held (a concurrency slot, a lease). Two things end such runs on the local server:

- `elt` records the flow runs of each of its processes (`ELT_HOME/runs/<pid>-<start>.json`,
  the process named by its pid and its start time, so a reused pid is not mistaken for it);
  every command that uses the local server first marks Crashed the runs of recorded processes
  that are gone and still not final: at once, the next time anything runs;
- the local server has the shipped `elt-flow-run-lost` automation applied when it starts
  (automations/flow-run-lost.yaml): 90 s after a run's last heartbeat it is marked Crashed,
  whether or not another command comes.

Deployed runs have their worker and the same automation on their server.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

__all__ = [
    "LOST_RUN_AUTOMATION",
    "apply_lost_run_automation",
    "crash_runs_of_dead_processes",
    "end_lost_runs",
    "record_flow_run",
]

LOST_RUN_AUTOMATION = "elt-flow-run-lost"


def apply_lost_run_automation() -> None:
    """The shipped `elt-flow-run-lost` automation, on this process's Prefect server."""
    from orchestration.server.automations import apply

    apply(None, only={LOST_RUN_AUTOMATION})


def end_lost_runs(say: Callable[[str], None]) -> None:
    """On the local server, for a command: its flow runs recorded from now on, the runs of dead
    processes marked Crashed (said through `say`), the automation applied when this process
    started the server."""
    from orchestration.runtime import interrupts
    from orchestration.server.local_server import is_local_api, started_by_this_process

    if not is_local_api():
        return
    interrupts.on_flow_run_start(record_flow_run)
    if started_by_this_process():
        apply_lost_run_automation()
    crashed = crash_runs_of_dead_processes()
    if crashed:
        say(
            f"marked {len(crashed)} flow run(s) Crashed: their elt process had ended without a"
            f" final state (killed?): {', '.join(crashed)}"
        )


def _runs_dir() -> Path:
    from orchestration.server.local_server import home

    return home() / "runs"


def _this_process() -> tuple[int, str]:
    from orchestration.server.local_server import process_identity

    return os.getpid(), process_identity(os.getpid())


def record_flow_run(flow_run_id: str) -> None:
    """Note that this process runs `flow_run_id`, when its API is the local server. Never
    fails: a folder it cannot write only loses this early notice (the automation remains)."""
    from orchestration.server.local_server import is_local_api

    if not is_local_api():
        return
    pid, identity = _this_process()
    path = _runs_dir() / f"{pid}-{identity}.json"
    with contextlib.suppress(OSError, ValueError):
        runs = json.loads(path.read_text())["runs"] if path.exists() else []
        if flow_run_id not in runs:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = {"pid": pid, "identity": identity, "runs": [*runs, flow_run_id]}
            partial = path.with_suffix(".partial")
            partial.write_text(json.dumps(body))
            partial.replace(path)


def crash_runs_of_dead_processes() -> list[str]:
    """Mark Crashed the runs, not final yet, of recorded processes that are gone; forget
    those processes. Returns the ids of the runs it marked."""
    from orchestration.server.local_server import process_alive

    folder = _runs_dir()
    crashed: list[str] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            pid, identity, runs = int(record["pid"]), str(record["identity"]), record["runs"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if process_alive(pid, identity):
            continue
        crashed += _crash(runs, pid)
        with contextlib.suppress(OSError):
            path.unlink()
    return crashed


def _crash(run_ids: list[str], pid: int) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import State
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    marked = []
    with get_client(sync_client=True) as client:
        for run_id in run_ids:
            try:
                run = client.read_flow_run(UUID(run_id))
            except ObjectNotFound:
                continue
            if run.state is None or run.state.is_final():
                continue
            state: State[Any] = Crashed(
                message=f"its process (elt, pid {pid}) ended without a final state: killed"
                " (kill -9, out of memory) or its machine stopped"
            )
            client.set_flow_run_state(UUID(run_id), state, force=True)
            marked.append(str(run_id))
    return marked
