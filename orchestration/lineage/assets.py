"""The same lineage as Prefect asset events, emitted by Prefect's own code: each table a sync
or a dbt node wrote is an asset materialization (`prefect.asset.materialization.succeeded`,
or `.failed`) with its upstream tables as related assets, and each upstream table a
`prefect.asset.referenced` event, exactly as `@materialize` reports them (Prefect's
`AssetContext.emit_events`, the method its task engine calls), so that Prefect draws the same
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
    """The asset events of the finished runs among `events`; returns how many assets were
    materialized."""
    from prefect.assets import Asset, AssetProperties
    from prefect.context import AssetContext
    from prefect.states import Completed, Failed

    sent = 0
    for event in events:
        state = event.get("eventType")
        if state not in ("COMPLETE", "FAIL") or not event.get("outputs"):
            continue
        upstream = {Asset(key=key) for d in event.get("inputs") or [] if (key := asset_key(d))}
        written = {
            key: Asset(key=key, properties=AssetProperties(name=output["name"]))
            for output in event["outputs"]
            if (key := asset_key(output))
        }
        if not written:
            continue
        payload = {"openlineage_run_id": event["run"]["runId"], "job": event["job"]["name"]}
        AssetContext(
            direct_asset_dependencies=upstream,
            downstream_assets=set(written.values()),
            materialized_by=MATERIALIZED_BY,
            materialization_metadata=dict.fromkeys(written, payload),
        ).emit_events(Completed() if state == "COMPLETE" else Failed())
        sent += len(written)
    return sent


__all__ = ["asset_key", "emit_asset_events"]
