"""The same lineage as Prefect asset events: each table a sync or a dbt node wrote is reported
as `prefect.asset.materialization.succeeded` (or `.failed`) with its upstream tables as related
assets, the events Prefect's own `@materialize` emits, so that Prefect Cloud draws the same
graph with no extra setup. An asset's key is its OpenLineage identity, `<namespace>/<name>`."""

from __future__ import annotations

from typing import Any

MATERIALIZED_BY = "elt-orchestration"


def asset_key(dataset: dict[str, Any]) -> str | None:
    """`<namespace>/<name>` when Prefect accepts it as an asset key (a URI), else None."""
    from prefect.assets import Asset

    key = f"{dataset['namespace'].rstrip('/')}/{dataset['name']}"
    try:
        return Asset(key=key).key
    except ValueError:
        return None


def emit_asset_events(events: list[dict[str, Any]]) -> int:
    """The asset events of the finished runs among `events`; returns how many."""
    from prefect.events import emit_event

    sent = 0
    for event in events:
        state = event.get("eventType")
        if state not in ("COMPLETE", "FAIL") or not event.get("outputs"):
            continue
        upstream = [key for d in event.get("inputs") or [] if (key := asset_key(d))]
        related = [
            {"prefect.resource.id": key, "prefect.resource.role": "asset"} for key in upstream
        ]
        related.append(
            {
                "prefect.resource.id": MATERIALIZED_BY,
                "prefect.resource.role": "asset-materialized-by",
            }
        )
        status = "succeeded" if state == "COMPLETE" else "failed"
        for output in event["outputs"]:
            key = asset_key(output)
            if key is None:
                continue
            emit_event(
                event=f"prefect.asset.materialization.{status}",
                resource={"prefect.resource.id": key, "prefect.resource.name": output["name"]},
                related=related,
                payload={"openlineage_run_id": event["run"]["runId"], "job": event["job"]["name"]},
            )
            sent += 1
    return sent


__all__ = ["asset_key", "emit_asset_events"]
