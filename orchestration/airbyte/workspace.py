"""Workspace mode: the connections a sync runs when it is given a workspace, not ids: every
active connection of the workspace whose name matches one of the globs (all, without globs),
as dagster-airbyte's workspace resource loads them."""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

from orchestration.airbyte.client import AirbyteClient
from orchestration.airbyte.models import Connection
from orchestration.errors import AirbyteApiError, AirbyteTransientError, UserError
from orchestration.logs import get_logger

__all__ = ["describe", "with_endpoint_names", "workspace_connections"]


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
            for actor_id in {getattr(c, f"{kind}_id") for c in connections} - {""}:
                known[actor_id] = client.actor_name(kind, actor_id, deadline=deadline)
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
