"""`drift_check`: between sync and build, what Airbyte loaded against what the dbt models
expect; the models a breaking change reaches are held back, everything else builds.

The warehouse's columns (information_schema, through the dbt target's own connection) are
compared with the last accepted snapshot of each source table (kept on the Prefect server per
target) or, before the first, with the columns the sources declare. A table's snapshot moves
on when nothing breaking changed in it (an added column, a dropped one no model uses), or when
the user accepts its new schema (`elt drift accept airbyte.users`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.events import emit_event

from orchestration.checks.drift import (
    Change,
    SourceTable,
    compare,
    exclusions,
    held_back,
    source_tables,
    values_changed,
)
from orchestration.checks.snapshot import Columns, load_snapshot, save_snapshot
from orchestration.checks.warehouse import airbyte_changes, column_types
from orchestration.config import Config, DbtTarget, load_config
from orchestration.errors import StepFailed, UserError
from orchestration.flows.dbt_transform import parsed_project
from orchestration.lineage import naming
from orchestration.runtime import interrupts
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.logs import get_logger

DRIFT_EVENT = "elt.schema.drift"


@dataclass
class DriftReport:
    target: str
    changes: list[Change] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # unique ids left out of the build
    exclude: list[str] = field(default_factory=list)  # dbt selectors that leave them out
    warn_only: set[str] = field(default_factory=set)  # tables declared `on_drift: warn`

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    @property
    def failing(self) -> list[Change]:
        return [c for c in self.breaking if c.table not in self.warn_only]

    def line(self) -> str:
        if not self.changes:
            return f"schema drift: none on target {self.target}"
        held = ", ".join(uid.split(".")[-1] for uid in self.held_back if uid.startswith("model."))
        return (
            f"schema drift on target {self.target}: "
            + "; ".join(c.describe() for c in self.changes)
            + (f"; held back: {held}" if held else "")
        )

    @property
    def warnings(self) -> list[Change]:
        """What the run reports as a warning: over a `warn` limit, or breaking in a table
        declared `on_drift: warn`."""
        return [c for c in self.changes if c.warning or (c.breaking and c not in self.failing)]

    def failure(self, also: str = "") -> StepFailed:
        """The run's failure: each change, what was held back, the fix (then `also`: what
        else failed after the build, e.g. the freshness of a table that went missing)."""
        missing = sorted({c.table for c in self.failing if c.kind == "table missing"})
        schema = sorted(
            {c.table for c in self.failing if c.kind not in ("values changed", "table missing")}
        )
        values = sorted({c.table for c in self.failing if c.kind == "values changed"})
        fixes = []
        if missing:  # nothing to accept: the table must come back (or leave the sources)
            fixes.append(
                f"sync again to recreate {', '.join(missing)} (`elt sync`), or remove "
                f"{'it' if len(missing) == 1 else 'them'} from the project's dbt sources"
            )
        if schema:
            fixes.append(
                "fix the source or the models, or accept the new schema with "
                + " ".join(f"`elt drift accept {t}`" for t in schema)
            )
        if values:
            fixes.append(
                f"read _airbyte_meta.changes in {', '.join(values)} (values the destination could"
                " not type), fix the stream's schema and sync again, or raise max_share in the"
                " source's meta.airbyte_changes"
            )
        return StepFailed(f"{self.line()}: {'; '.join(fixes)}" + (f"; also {also}" if also else ""))


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


def emit_drift_event(change: Change, target: str, held: list[str]) -> None:
    emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": f"elt.schema.{target}.{change.table}",
            "prefect.resource.name": change.table,
            "elt.schema.breaking": "true" if change.breaking else "false",  # what alerts match
        },
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


@flow(name="schema-drift", log_prints=True)
@interrupts.cancel_on_interrupt
def drift_check(
    block_name: str | None = None, since: datetime | None = None, fail_on_breaking: bool = True
) -> DriftReport:
    """Compare the warehouse's source tables with their accepted schema; report each change,
    hold back what a breaking one reaches (the caller excludes it from the build).

    `since`: when the sync started; the share of values Airbyte nulled is counted over the
    rows loaded since (all rows, if None). A breaking change fails the run with the fix, as
    `full_pipeline` fails (`elt drift` and `elt run` agree); `full_pipeline` itself passes
    `fail_on_breaking=False`, builds what is not held back, then fails the same way.
    """
    config = load_config(block_name)
    target = config.require_warehouse()
    manifest = parsed_manifest(config, target)
    try:
        tables = source_tables(manifest)
    except ValueError as error:
        raise UserError(str(error)) from None
    now, values = read_warehouse(config, target, tables, since)
    where = naming.warehouse(config, target).namespace
    snapshot = load_snapshot(target.name, where)
    report = DriftReport(
        target.name, warn_only={f"{t.source}.{t.name}" for t in tables if t.on_drift == "warn"}
    )
    advanced = dict(snapshot)
    for table in tables:
        columns = now[table.label]
        changes = compare(table, columns, snapshot.get(table.label))
        report.changes += changes
        if columns is not None and not any(c.breaking for c in changes):
            advanced[table.label] = columns  # nothing a model uses broke: this is the schema now
    report.changes += values
    report.held_back = held_back(manifest, report.changes)
    report.exclude = exclusions(tables, report.changes)
    if advanced != snapshot:
        save_snapshot(target.name, where, advanced)
    for change in report.changes:
        emit_drift_event(change, target.name, report.held_back if change.breaking else [])
    if report.changes:
        publish_table(
            "schema-drift",
            [{"table": c.table, "change": c.kind, "column": c.column or "",
              "old type": c.old_type or "", "new type": c.new_type or "",
              "share": f"{c.share:.1%}" if c.share is not None else "",
              "breaking": c.breaking, "used by": ", ".join(c.used_by)} for c in report.changes],
            f"Schema drift on target {target.name}",
        )  # fmt: skip
    if report.failing and fail_on_breaking:
        raise report.failure()  # its one line says each change and the fix
    log = get_logger()
    (log.warning if report.breaking or report.warnings else log.info)(report.line())
    return report


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


__all__ = ["DRIFT_EVENT", "DriftReport", "accept", "drift_check"]
