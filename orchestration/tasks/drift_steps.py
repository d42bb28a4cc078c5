"""The steps of the drift check that read and write: dbt's parsed manifest (the sources, the
models' code, the child map), the warehouse's columns and Airbyte's `_airbyte_meta.changes`,
and accepting a table's schema as it is now (`elt drift accept`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestration.checks.drift import (
    Change,
    SourceTable,
    source_tables,
    values_changed,
)
from orchestration.checks.snapshot import Columns, load_snapshot, save_snapshot
from orchestration.checks.warehouse import airbyte_changes, column_types
from orchestration.config import Config, DbtTarget, load_config
from orchestration.errors import UserError
from orchestration.lineage import naming
from orchestration.runtime.elt_events import EltEvent, emit_elt_event
from orchestration.tasks.dbt_commands import parsed_project


def parsed_manifest(config: Config, target: DbtTarget) -> dict[str, Any]:
    """What the check needs of dbt's manifest: the sources, the models' code, the child map."""
    return manifest_dict(parsed_project(config, target))


def manifest_dict(manifest: Any) -> dict[str, Any]:
    """The parts of a parsed `Manifest` the check reads, shaped as in `manifest.json`."""
    manifest.build_parent_and_child_maps()
    return {
        "sources": {uid: source.to_dict() for uid, source in manifest.sources.items()},
        "nodes": {
            uid: {
                "resource_type": str(node.resource_type.value),
                "name": node.name,
                "raw_code": getattr(node, "raw_code", ""),
                "compiled_code": getattr(node, "compiled_code", None),
            }
            for uid, node in manifest.nodes.items()
        },
        "child_map": {uid: list(children) for uid, children in manifest.child_map.items()},
    }


def _columns(conn: Any, tables: list[SourceTable]) -> dict[str, Columns | None]:
    found: dict[tuple[str, str], Columns] = {}
    for schema in sorted({t.schema for t in tables}):
        for table, columns in column_types(conn, schema).items():
            found[(schema.lower(), table)] = {c.lower(): kind for c, kind in columns}
    return {t.label: found.get((t.schema.lower(), t.identifier.lower())) for t in tables}


def warehouse_columns(
    config: Config, target: DbtTarget, tables: list[SourceTable]
) -> dict[str, Columns | None]:
    """`source.table` -> its columns now (None: no such table), one query per schema."""
    with config.warehouse(target) as conn:
        return _columns(conn, tables)


def read_warehouse(
    config: Config, target: DbtTarget, tables: list[SourceTable], since: datetime | None
) -> tuple[dict[str, Columns | None], list[Change]]:
    """Each table's columns, and the columns whose values Airbyte nulled or truncated in more
    rows since `since` than the source's yml allows (only where it declares a limit)."""
    with config.warehouse(target) as conn:
        columns = _columns(conn, tables)
        changes = []
        for table in tables:
            if table.checks_values and "_airbyte_meta" in (columns[table.label] or {}):
                total, changed = airbyte_changes(conn, table.schema, table.identifier, since)
                changes += values_changed(table, total, changed)
    return columns, changes


def accept(table: str, block_name: str | None = None) -> Columns:
    """Make `table`'s (`source.table`) schema in the warehouse now its accepted one."""
    config = load_config(block_name)
    target = config.require_warehouse()
    tables = {f"{t.source}.{t.name}": t for t in source_tables(parsed_manifest(config, target))}
    if table not in tables:
        raise UserError(
            f"no dbt source table {table!r}: use SOURCE.TABLE, one of {', '.join(sorted(tables))}"
        )
    source = tables[table]
    columns = warehouse_columns(config, target, [source])[table]
    if columns is None:
        raise UserError(
            f"{table} is not in the warehouse ({source.schema}.{source.identifier}): there is no "
            "schema to accept; sync again to recreate it (`elt sync`)"
        )
    where = naming.warehouse(config, target).namespace
    snapshot = load_snapshot(target.name, where)
    snapshot[table] = columns
    save_snapshot(target.name, where, snapshot)
    return columns


def emit_drift_event(change: Change, target: str, held: list[str]) -> None:
    emit_elt_event(
        EltEvent.SCHEMA_DRIFT,
        ("schema", target, change.table),
        change.table,
        labels={"elt.schema.breaking": "true" if change.breaking else "false"},  # alerts match
        payload={
            "change": change.kind,
            "column": change.column,
            "old_type": change.old_type,
            "new_type": change.new_type,
            "share": change.share,
            "breaking": change.breaking,
            "models_held_back": [u.split(".")[-1] for u in held if u.startswith("model.")],
            "message": change.describe(),
        },
    )
