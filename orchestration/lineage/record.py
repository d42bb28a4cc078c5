"""What the flows call: each step's events, sent where lineage is configured (or nowhere).
Lineage never fails or slows a step: every failure here is one warning."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orchestration.lineage.events as events
import orchestration.lineage.naming as naming
import orchestration.lineage.transport as transport
from orchestration.airbyte.sync_results import SyncResult
from orchestration.checks.freshness import SlaResult
from orchestration.checks.warehouse import column_types
from orchestration.config import Config, DbtTarget
from orchestration.lineage.assets import emit_asset_events
from orchestration.runtime.logs import get_logger

# The collectors of the runs recording now (`collecting`): each gets every event built inside
# it, in this context and the task threads Prefect copies it into.
_collectors: ContextVar[tuple[list[dict[str, Any]], ...]] = ContextVar(
    "elt_lineage_collectors", default=()
)


@contextmanager
def collecting() -> Iterator[list[dict[str, Any]]]:
    """The events (as JSON) recorded inside: a run draws the graph of what it touched from
    them, whether or not they are sent anywhere, however many the process records before or
    beside it."""
    events: list[dict[str, Any]] = []
    token = _collectors.set((*_collectors.get(), events))
    try:
        yield events
    finally:
        _collectors.reset(token)


def _send(config: Config, build: Callable[[], list[Any]]) -> None:
    from openlineage.client.serde import Serde

    try:
        built = build()
        as_json = [json.loads(Serde.to_json(event)) for event in built]
        for collector in _collectors.get():
            collector.extend(as_json)
        emit_asset_events(as_json)
    except Exception as exc:  # a lineage bug must not cost the run
        get_logger().warning("No lineage for this step: %s", str(exc)[:300])
        return
    out = transport.sender(config.local.elt_home, embedded=config.airbyte.embedded)
    if out is not None:
        out.send(built)


def syncs(config: Config, results: list[SyncResult], streams: dict[str, tuple[str, ...]]) -> None:
    """The syncs' events; `streams`: the streams of each connection, where known."""

    def build() -> list[Any]:
        target = config.require_warehouse()
        where = naming.warehouse(config, target)
        parent = events.PrefectRun.current()
        columns = raw_columns(config, target)
        return [
            event
            for result in results
            for event in events.sync_events(
                result, streams.get(result.connection_id, ()), config.airbyte.raw_schema,
                where, parent, columns,
            )
        ]  # fmt: skip

    _send(config, build)


def raw_columns(config: Config, target: DbtTarget) -> dict[str, list[tuple[str, str]]]:
    """The raw tables' columns as the warehouse holds them (none if it cannot say)."""
    try:
        with config.warehouse(target) as conn:
            return column_types(conn, config.airbyte.raw_schema)
    except Exception as exc:  # a schema facet is worth no failure
        get_logger().debug("No raw table columns for lineage: %s", exc)
        return {}


def dbt(config: Config, target: DbtTarget) -> None:
    _send(config, lambda: events.dbt_events(config, target, events.PrefectRun.current()))


def freshness(config: Config, target: DbtTarget, results: list[SlaResult]) -> None:
    _send_on_datasets(config, target, lambda d, p: events.freshness_events(results, d, p))


def reused(config: Config, target: DbtTarget, models: list[tuple[str, str, str]]) -> None:
    """A change-driven build's reused models: (name, last built at, by flow run)."""
    _send_on_datasets(config, target, lambda d, p: events.reused_events(models, d, p))


def _send_on_datasets(
    config: Config,
    target: DbtTarget,
    make: Callable[[dict[tuple[str, str], tuple[str, str]], events.PrefectRun | None], list[Any]],
) -> None:
    """Events about the project's tables, named as dbt's events name them (its manifest)."""

    def build() -> list[Any]:
        where = naming.warehouse(config, target)
        manifest = config.dbt.target_path(config.env) / "manifest.json"
        datasets = manifest_datasets(json.loads(manifest.read_text()), where.namespace)
        return make(datasets, events.PrefectRun.current())

    _send(config, build)


def landing(
    config: Config, bucket: str, keys: list[str], handed_to: events.PrefectRun | None
) -> None:
    """A sensor's batch, as inputs of the flow run it was handed to (`handed_to`; the sensor's
    own run when it printed the batch)."""
    job = f"s3-sensor.{bucket}"
    parent = handed_to or events.PrefectRun.current()
    _send(config, lambda: events.landing_events(bucket, keys, job, parent))


def manifest_datasets(
    manifest: dict[str, Any], namespace: str
) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) -> (namespace, name) for dbt's sources and models, named as dbt's events
    name them (`database.schema.table`)."""

    def name(node: dict[str, Any], table: str) -> str:
        return ".".join(p for p in (node.get("database"), node.get("schema"), table) if p)

    found = {
        ("source", s["name"]): (namespace, name(s, s["name"]))
        for s in manifest.get("sources", {}).values()
    }
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model":
            found[("mart", node["name"])] = (
                namespace,
                name(node, node.get("alias") or node["name"]),
            )
    return found


__all__ = ["collecting", "dbt", "freshness", "landing", "manifest_datasets", "syncs"]
