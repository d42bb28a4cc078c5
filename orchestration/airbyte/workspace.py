"""Workspace mode: the connections a sync runs when it is given a workspace, not ids: every
active connection of the workspace whose name matches one of the globs (all, without globs),
as dagster-airbyte's workspace resource loads them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import TypeVar

from orchestration.airbyte.client import AirbyteClient
from orchestration.airbyte.models import Connection
from orchestration.errors import AirbyteApiError, AirbyteTransientError, UserError
from orchestration.runtime.logs import get_logger

__all__ = ["describe", "describe_all", "with_endpoint_names", "workspace_connections"]

READS_AT_ONCE = 8  # requests in flight while naming connections (the client is thread-safe)

T = TypeVar("T")
R = TypeVar("R")


def _each(read: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`read` of every item, READS_AT_ONCE at a time, in order: naming 50 connections takes
    a few round trips, not 50 (before their syncs can start)."""
    items = list(items)
    if len(items) <= 1:
        return [read(item) for item in items]
    with ThreadPoolExecutor(min(READS_AT_ONCE, len(items)), thread_name_prefix="name") as pool:
        return list(pool.map(read, items))


def workspace_connections(
    client: AirbyteClient, workspace_id: str, patterns: list[str]
) -> list[Connection]:
    """The workspace's active connections matching `patterns` (fnmatch, case-sensitive), by
    name; a selection that finds none is an error that lists what the workspace has."""
    every = list(client.workspace_connections(workspace_id))
    named = [c for c in every if not patterns or any(fnmatchcase(c.name, p) for p in patterns)]
    chosen = sorted((c for c in named if c.status == "active"), key=lambda c: c.name)
    skipped = [c for c in named if c.status != "active"]
    if skipped:
        get_logger().info(
            "Workspace %s: not syncing %d connection(s) that are not active: %s",
            workspace_id,
            len(skipped),
            ", ".join(f"{c.label} ({c.status})" for c in skipped),
        )
    if not chosen:
        which = f" matching {', '.join(patterns)!r}" if patterns else ""
        names = ", ".join(repr(c.name) for c in every[:10]) or "none"
        raise UserError(
            f"Airbyte workspace {workspace_id} has no active connection{which} (it has "
            f"{len(every)}: {names}{', ...' if len(every) > 10 else ''}): check "
            "AIRBYTE_CONNECTIONS and AIRBYTE_WORKSPACE_ID"
        )
    return chosen


def describe(client: AirbyteClient, connection_id: str, *, deadline: float) -> Connection:
    """The connection's name, streams, source and destination, for task names, results and
    logs; its id alone when Airbyte cannot say by `deadline` (the sync then reports why)."""
    try:
        return client.get_connection(connection_id, deadline=deadline)
    except (AirbyteApiError, AirbyteTransientError):
        return Connection(connection_id=connection_id, name="", status="")


def describe_all(
    client: AirbyteClient, connection_ids: list[str], *, deadline: float
) -> list[Connection]:
    """`describe` of each id, a few at a time, in the order given."""
    return _each(lambda c: describe(client, c, deadline=deadline), connection_ids)


def with_endpoint_names(
    client: AirbyteClient,
    connections: list[Connection],
    *,
    workspace_id: str | None,
    deadline: float,
) -> list[Connection]:
    """Each connection with its source's and destination's names: read from the workspace's
    two listings (workspace mode: two paged requests, whatever the number of connections),
    else one request per distinct source and destination. Names are for people: when Airbyte
    cannot say, they stay empty and the sync goes on."""
    names: dict[str, dict[str, str]] = {"source": {}, "destination": {}}
    for kind, known in names.items():
        try:
            if workspace_id:
                known.update(client.workspace_actor_names(kind, workspace_id, deadline=deadline))
                continue
            ids = sorted({getattr(c, f"{kind}_id") for c in connections} - {""})
            known.update(zip(ids, _each(_name_reader(client, kind, deadline), ids), strict=True))
        except (AirbyteApiError, AirbyteTransientError) as exc:
            get_logger().info("Could not read the %s names from Airbyte: %s", kind, exc)
    return [
        replace(
            c,
            source_name=names["source"].get(c.source_id, ""),
            destination_name=names["destination"].get(c.destination_id, ""),
        )
        for c in connections
    ]


def _name_reader(client: AirbyteClient, kind: str, deadline: float) -> Callable[[str], str]:
    """The name of one source or destination by id; "" when Airbyte cannot say."""

    def read(actor_id: str) -> str:
        try:
            return client.actor_name(kind, actor_id, deadline=deadline)
        except (AirbyteApiError, AirbyteTransientError) as exc:
            get_logger().info(
                "Could not read the name of %s %s from Airbyte: %s", kind, actor_id, exc
            )
            return ""

    return read
