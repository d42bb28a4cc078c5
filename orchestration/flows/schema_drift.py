"""`drift_check`: between sync and build, what Airbyte loaded against what the dbt models
expect; the models a breaking change reaches are held back, everything else builds.

The warehouse's columns (information_schema, through the dbt target's own connection) are
compared with the last accepted snapshot of each source table (kept on the Prefect server per
target) or, before the first, with the columns the sources declare. A table's snapshot moves
on when nothing breaking changed in it (an added column, a dropped one no model uses), or when
the user accepts its new schema (`elt drift accept airbyte.users`).
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from orchestration.checks.drift import (
    DriftReport,
    compare,
    exclusions,
    held_back,
    source_tables,
)
from orchestration.checks.snapshot import load_snapshot, save_snapshot
from orchestration.config import load_config
from orchestration.errors import UserError
from orchestration.lineage import naming
from orchestration.runtime import interrupts
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.logs import get_logger
from orchestration.tasks.drift_steps import emit_drift_event, parsed_manifest, read_warehouse


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


__all__ = ["drift_check"]
