"""`freshness_check`: every SLA the dbt project declares, with an event per table and mart.

Source tables: dbt's own `source freshness` (warn / error per table). Marts: a deadline in the
model's meta, against its last successful build. `error` fails the run naming what breached;
`warn` is published and emitted only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prefect import flow

from orchestration.checks.freshness import SlaResult, breach_message, mart_deadlines, source_results
from orchestration.config import Config, DbtTarget, load_config
from orchestration.dbt.builds import load_builds
from orchestration.dbt.runner import run_dbt
from orchestration.errors import FreshnessBreached
from orchestration.flags import PARAMETER_ORIGINS, from_parameters
from orchestration.lineage import record as lineage
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.elt_events import EltEvent, emit_elt_event
from orchestration.runtime.logs import get_logger

EMBEDDED_STALE_FIX = (
    "the embedded source-faker syncs incrementally and brings nothing new while its count stays "
    "the same; `elt run --count N` with a larger N, or FAKER_ALWAYS_UPDATED=true, brings new rows"
)
EVENTS = {
    "ok": EltEvent.FRESHNESS_OK,
    "warn": EltEvent.FRESHNESS_WARN,
    "breached": EltEvent.FRESHNESS_BREACHED,
}


def emit_freshness_event(result: SlaResult, target: DbtTarget) -> None:
    """One event per table or mart; its resource id is stable across runs, so automations can
    act per table (`for_each: prefect.resource.id`)."""
    emit_elt_event(
        EVENTS[result.severity],
        ("freshness", target.name, result.kind, result.name),
        result.name,
        {
            **result.as_row(),
            "table": result.name,
            "target": target.name,
            "severity": result.severity,
            "message": result.message,
        },
    )


def check_sources(config: Config, target: DbtTarget) -> list[SlaResult]:
    """`dbt source freshness` in-process, on whatever adapter the target uses."""
    result = run_dbt(config.dbt.args("source freshness"), config.dbt_env(target))
    sources = source_results(result.raw)
    if not sources and not result.success:
        raise result.failure()
    return sources


def check_marts(config: Config, target: DbtTarget, now: datetime) -> list[SlaResult]:
    manifest_path = config.dbt.target_path(config.env) / "manifest.json"
    if not manifest_path.exists():
        return []
    deadlines = mart_deadlines(json.loads(manifest_path.read_text()))
    builds = load_builds(target.name) if deadlines else {}
    return [d.evaluate(builds.get(d.model), now) for d in deadlines]


@flow(name="freshness-check", log_prints=True)
@interrupts.cancel_on_interrupt
def freshness_check(
    threshold_hours: float | None = None,
    block_name: str | None = None,
) -> list[SlaResult]:
    """Check every source table with a `freshness` block and every mart with a deadline.

    `threshold_hours` (FRESHNESS_THRESHOLD_HOURS) is the `error_after` of tables that declare
    no SLA of their own."""
    overrides = from_parameters({"threshold_hours": threshold_hours})
    config = load_config(block_name, overrides, PARAMETER_ORIGINS)
    target = config.require_warehouse()
    now = datetime.now(UTC)
    milestones.expect(milestones.CHECKED)
    results = check_sources(config, target) + check_marts(config, target, now)
    milestones.reached(milestones.CHECKED)
    publish_table(
        "freshness-check",
        [r.as_row() for r in results],
        f"Freshness SLAs on target {target.name}: sources (dbt) and mart deadlines",
    )
    for r in results:
        emit_freshness_event(r, target)
    lineage.freshness(config, target, results)
    log = get_logger()
    warned = [r for r in results if r.status == "warn"]
    if warned:
        log.warning("Freshness warning: %s", ", ".join(r.describe() for r in warned))
    breached = [r for r in results if r.status == "error"]
    if breached:
        message = breach_message(breached)
        if config.airbyte.embedded and any(r.kind == "source" for r in breached):
            message += f": {EMBEDDED_STALE_FIX}"
        raise FreshnessBreached(message, results)
    log.info("Freshness OK: %s", ", ".join(r.describe() for r in results))
    return results


if __name__ == "__main__":
    from orchestration.server.local_server import run_as_script

    run_as_script(freshness_check)
