"""Who holds each slot: one Prefect variable per held slot, written by its holder.

Prefect's API tells how many slots of a global limit are in use, not who holds them, and a
server that keeps its leases in memory (the default) forgets every lease when it restarts
while the count stays. So each run records the slot it took as the variable
`elt-slot-<lease id>` (tags `elt-slot` and `limit:<name>`), and deletes it when it gives the
slot back. The record survives a server restart with the database; with the run's state it
tells `elt limits repair` which slots a live run holds, and tells a waiting run, and
`elt limits show`, whom it waits for.

A slot is recorded only once taken, so a run still waiting never counts as a holder.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import VariableCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterId,
)
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import ObjectNotFound

__all__ = [
    "Holder",
    "alive",
    "current_holder",
    "forget",
    "holders_of",
    "record",
    "recorded",
]

PREFIX = "elt-slot-"
TAG = "elt-slot"
PAGE = 200


def limit_tag(limit: str) -> str:
    return f"limit:{limit}"


@dataclass(frozen=True)
class Holder:
    """The run holding one slot of `limit` under the lease `lease_id`."""

    limit: str
    lease_id: UUID
    what: str  # e.g. "sync postgres → warehouse", "dbt build"
    task_run_id: UUID | None
    flow_run_id: UUID | None
    flow_run_name: str | None
    since: datetime
    renew_seconds: float  # how often the holder renews its lease (and replaces a lost one)

    @property
    def variable(self) -> str:
        return f"{PREFIX}{self.lease_id}"

    def describe(self) -> str:
        """`sync X (flow run 'witty-fox')`."""
        run = f" (flow run {self.flow_run_name!r})" if self.flow_run_name else ""
        return f"{self.what}{run}"

    def as_value(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "lease_id": str(self.lease_id),
            "what": self.what,
            "task_run_id": _text(self.task_run_id),
            "flow_run_id": _text(self.flow_run_id),
            "flow_run_name": self.flow_run_name,
            "since": self.since.isoformat(),
            "renew_seconds": self.renew_seconds,
        }

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> Holder:
        return cls(
            limit=value["limit"],
            lease_id=UUID(value["lease_id"]),
            what=value.get("what") or "a run",
            task_run_id=_uuid(value.get("task_run_id")),
            flow_run_id=_uuid(value.get("flow_run_id")),
            flow_run_name=value.get("flow_run_name"),
            since=datetime.fromisoformat(value["since"]),
            renew_seconds=float(value.get("renew_seconds") or 60.0),
        )


def current_holder(limit: str, lease_id: UUID, what: str, renew_seconds: float) -> Holder:
    """The record of a slot taken by the running task (or flow) run."""
    task_run = TaskRunContext.get()
    flow_run = FlowRunContext.get()
    flow = flow_run.flow_run if flow_run is not None else None
    return Holder(
        limit=limit,
        lease_id=lease_id,
        what=what,
        task_run_id=task_run.task_run.id if task_run is not None else None,
        flow_run_id=(
            task_run.task_run.flow_run_id
            if task_run is not None and task_run.task_run.flow_run_id
            else (flow.id if flow is not None else None)
        ),
        flow_run_name=flow.name if flow is not None else None,
        since=datetime.now(UTC),
        renew_seconds=renew_seconds,
    )


def record(client: SyncPrefectClient, holder: Holder) -> None:
    client.create_variable(
        VariableCreate(
            name=holder.variable, value=holder.as_value(), tags=[TAG, limit_tag(holder.limit)]
        )
    )


def forget(client: SyncPrefectClient, lease_id: UUID) -> None:
    with contextlib.suppress(ObjectNotFound):
        client.delete_variable_by_name(f"{PREFIX}{lease_id}")


def recorded(client: SyncPrefectClient, lease_id: UUID) -> bool:
    """Whether the slot held under `lease_id` is still recorded (`elt limits repair` forgets
    the record of a slot it frees)."""
    return client.read_variable_by_name(f"{PREFIX}{lease_id}") is not None


def holders_of(client: SyncPrefectClient, limit: str | None = None) -> list[Holder]:
    """Every recorded holder of a slot of `limit` (of any limit: None), oldest first."""
    tags = [TAG] if limit is None else [TAG, limit_tag(limit)]
    holders: list[Holder] = []
    offset = 0
    while True:
        response = client.request(
            "POST",
            "/variables/filter",
            json={
                "variables": {"tags": {"all_": tags}},
                "limit": PAGE,
                "offset": offset,
            },
        )
        page = response.json()
        for variable in page:
            value = variable.get("value")
            if isinstance(value, dict) and limit in (None, value.get("limit")):
                holders.append(Holder.from_value(value))
        if len(page) < PAGE:
            return sorted(holders, key=lambda h: h.since)
        offset += PAGE


def alive(client: SyncPrefectClient, holders: list[Holder]) -> set[UUID]:
    """The lease ids of the holders whose runs have not ended (a flow run deleted has ended).
    A holder outside any run cannot be checked: it counts as alive.

    A task run the server does not know ends nothing while its flow run is known: the server
    records task runs from their events, later than the client creates them, and loses those
    in flight when it restarts with in-memory messaging, while the holder may run on."""
    task_ids = [h.task_run_id for h in holders if h.task_run_id]
    flow_ids = [h.flow_run_id for h in holders if h.flow_run_id]
    known_tasks: set[UUID] = set()
    final_tasks: set[UUID] = set()
    for chunk in _chunks(task_ids):
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=chunk)), limit=len(chunk)
        )
        known_tasks |= {r.id for r in runs}
        final_tasks |= {r.id for r in runs if r.state is not None and r.state.is_final()}
    ended_flows: set[UUID] = set()
    for chunk in _chunks(flow_ids):
        flows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)), limit=len(chunk)
        )
        ended_flows |= set(chunk) - {
            r.id for r in flows if r.state is None or not r.state.is_final()
        }

    def ended(holder: Holder) -> bool:
        if holder.task_run_id in final_tasks or holder.flow_run_id in ended_flows:
            return True
        unknown_task = holder.task_run_id is not None and holder.task_run_id not in known_tasks
        return unknown_task and holder.flow_run_id is None

    return {h.lease_id for h in holders if not ended(h)}


def _chunks(ids: list[UUID]) -> list[list[UUID]]:
    return [ids[i : i + PAGE] for i in range(0, len(ids), PAGE)]


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _uuid(value: str | None) -> UUID | None:
    return None if not value else UUID(value)
