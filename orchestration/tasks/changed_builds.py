"""A change-driven `dbt build`: only what new rows or changed code reach, the rest reused.

Before the build, dbt's own `source freshness` reads the newest row of each source table; the
plan (`orchestration.dbt.changes`) compares them and the code with the target's last complete
build, kept on the Prefect server (`orchestration.dbt.build_state`). After a build that
completed, its manifest and those newest rows become the target's state: the newest rows read
*before* the build, so that a row landing while it runs is built by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import dbt.version
from prefect.runtime import flow_run

from orchestration.config import Config, DbtTarget
from orchestration.config.dbt_settings import vars_text
from orchestration.dbt.build_state import BuildState, LastBuilt, load_state, save_state
from orchestration.dbt.builds import record_current
from orchestration.dbt.changes import (
    BuildPlan,
    ReusedNode,
    built_nodes,
    day_ranges,
    fingerprint,
    narrow,
    plan_build,
    reused_nodes,
)
from orchestration.dbt.run_results import DbtRunResult, declares_sla
from orchestration.dbt.runner import run_dbt
from orchestration.dbt.whole_marts import with_days
from orchestration.lineage import naming
from orchestration.lineage import record as lineage
from orchestration.runtime import interrupts
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.logs import get_logger
from orchestration.tasks.dbt_commands import dbt_command
from orchestration.tasks.touched_days import TouchedDays, touched_days


@dataclass(frozen=True)
class SourceStatus:
    """The sources' newest rows, and the project as dbt parsed it for them: the build that
    follows parses the same project with the same vars, so its manifest is this one."""

    newest_rows: dict[str, str | None]  # every source of the manifest; None: not known
    manifest_text: str  # "" when dbt could not parse the project
    manifest: dict[str, Any]


def source_status(config: Config, target: DbtTarget, dbt_vars: Any) -> SourceStatus:
    """dbt's `source freshness`, in-process: each source table's newest `loaded_at`. A source
    dbt cannot measure (no `loaded_at_field`, a query error) is not known."""
    result = run_dbt(config.dbt.args("source freshness", dbt_vars=dbt_vars), config.dbt_env(target))
    if result.exit_code == 2:  # dbt did not parse: the build will say why
        return SourceStatus({}, "", {})
    manifest_text = (config.dbt.target_path(config.env) / "manifest.json").read_text()
    manifest = json.loads(manifest_text)
    newest: dict[str, str | None] = dict.fromkeys(manifest.get("sources", {}))
    for r in getattr(result.raw, "results", None) or []:
        loaded = getattr(r, "max_loaded_at", None)
        if isinstance(loaded, datetime) and r.node.unique_id in newest:
            newest[r.node.unique_id] = loaded.astimezone(UTC).isoformat()
    return SourceStatus(newest, manifest_text, manifest)


def build_changes(
    config: Config,
    target: DbtTarget,
    options: Mapping[str, Any],
    *,
    changed_only: bool,
    keep_state: bool,
    reshaped: list[str] | None = None,
) -> DbtRunResult:
    """`dbt build` of what changed since the target's last complete build (`changed_only`),
    or of everything; then, when `keep_state`, this build becomes the target's state.
    `reshaped`: source tables (`source.table`) whose columns changed, built downstream of."""
    log = get_logger()
    dbt_vars = options.get("dbt_vars")
    status = source_status(config, target, dbt_vars)
    location = naming.warehouse(config, target).location
    previous = load_state(target.name, location)
    current = fingerprint(
        config.dbt.project_path, vars_text(dbt_vars) if dbt_vars else "", dbt.version.__version__
    )
    if not changed_only:
        plan = BuildPlan(None, "building all, as asked (--all)")
    elif not status.manifest_text:
        plan = BuildPlan(None, "dbt could not read the sources' newest rows: building all")
    else:
        plan = plan_build(previous, status.newest_rows, current, status.manifest, reshaped or ())
    log.info("Change-driven build: %s", plan.reason)
    touched = touched_days(
        config, target, dbt_vars, plan, previous, status.manifest, reshaped or ()
    )
    build_options = {**options, "select": narrow(options.get("select") or [], plan)}
    if touched.days is not None:
        build_options["dbt_vars"] = with_days(dbt_vars, touched.days)
    report_days(target, touched)
    with TemporaryDirectory(prefix="elt-state-") as state_dir:
        if plan.needs_state and previous is not None:  # (a plan with a selection has one)
            (Path(state_dir) / "manifest.json").write_text(previous.manifest)
            build_options["state"] = Path(state_dir)
        result = interrupts.unless_cancelled(dbt_command("build", config, target, build_options))
    finished = datetime.now(UTC)
    built = {n.unique_id for n in result.nodes}
    reused = reused_nodes(status.manifest, built, previous) if plan.select is not None else []
    report_reused(config, target, reused, status.manifest, finished)
    if keep_state and status.manifest_text:
        nodes = dict(previous.nodes) if previous else {}
        run = str(flow_run.id or "")
        nodes.update(
            {
                uid: LastBuilt(finished.isoformat(), run)
                for uid in built_nodes(status.manifest)
                if uid in built
            }
        )
        state = BuildState(current, status.newest_rows, nodes, status.manifest_text)
        save_state(target.name, location, state)
    return replace(result, reused=reused, plan=plan.reason, days=touched.days)


def report_days(target: DbtTarget, touched: TouchedDays) -> None:
    """The days the time-partitioned marts rebuild, in the log and an artifact; or why whole."""
    if touched.days is None:
        if touched.reason:
            get_logger().info("Time-partitioned marts: %s", touched.reason)
        return
    get_logger().info(
        "Time-partitioned marts rebuild %d day(s) the new rows touch: %s",
        len(touched.days),
        day_ranges(touched.days),
    )
    publish_table(
        "dbt-build-days",
        [{"day": day} for day in touched.days],
        f"dbt build on target {target.name}: the days the time-partitioned marts rebuilt "
        f"(those the new rows touch): {day_ranges(touched.days)}",
    )


def report_reused(
    config: Config,
    target: DbtTarget,
    reused: list[ReusedNode],
    manifest: Mapping[str, Any],
    at: datetime,
) -> None:
    """The reused nodes in the log, an artifact and the lineage events; the models with an SLA
    count as current (they hold what a build now would write)."""
    if not reused:
        return
    get_logger().info(
        "Reused %d node(s) whose code and inputs did not change: %s",
        len(reused),
        ", ".join(r.name for r in reused[:20]) + (" ..." if len(reused) > 20 else ""),
    )
    publish_table(
        "dbt-build-reused",
        [r.as_row() for r in reused],
        f"dbt build on target {target.name}: nodes reused (code and inputs unchanged since "
        "their last build)",
    )
    lineage.reused(
        config,
        target,
        [(r.name, r.last_built.at, r.last_built.run) for r in reused if r.resource_type == "model"],
    )
    nodes = manifest.get("nodes", {})
    record_current(target.name, [r.name for r in reused if has_sla(nodes.get(r.unique_id, {}))], at)


def has_sla(node: Mapping[str, Any]) -> bool:
    return declares_sla(node.get("meta"), (node.get("config") or {}).get("meta"))


__all__ = ["SourceStatus", "build_changes", "source_status"]
