"""`freshness_check`: the freshness SLA of every raw table, with an event per verdict."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.events import emit_event

from orchestration.artifacts import publish_table
from orchestration.config import load_config
from orchestration.errors import StepFailed
from orchestration.freshness import FreshnessResult, breach_message, evaluate
from orchestration.logs import get_logger
from orchestration.warehouse import newest_extracted_at

BREACHED_EVENT = "elt.freshness.breached"
OK_EVENT = "elt.freshness.ok"


def emit_freshness_event(result: FreshnessResult, target: str) -> None:
    emit_event(
        event=OK_EVENT if result.passed else BREACHED_EVENT,
        resource={
            "prefect.resource.id": f"elt.table.{target}.{result.table}",
            "prefect.resource.name": result.table,
        },
        payload=result.as_row(),
    )


@flow(name="freshness-check", log_prints=True)
def freshness_check(
    threshold_hours: float | None = None,
    tables: list[str] | None = None,
    block_name: str | None = None,
) -> list[FreshnessResult]:
    """Fail when the newest raw row of any table is older than the threshold."""
    config = load_config(
        block_name,
        {"options.freshness_threshold_hours": threshold_hours},
        {"options.freshness_threshold_hours": "parameter threshold_hours"},
    )
    target = config.require_warehouse()
    threshold = config.options.freshness_threshold_hours
    with config.warehouse(target) as conn:
        newest = newest_extracted_at(
            conn, config.airbyte.raw_schema, tables or config.airbyte.streams
        )
    results = evaluate(newest, now=datetime.now(UTC), threshold_hours=threshold)
    publish_table(
        "freshness-check",
        [r.as_row() for r in results],
        f"Freshness SLA ({threshold:g}h) per raw table",
    )
    for r in results:
        emit_freshness_event(r, target.name)
    stale = [r for r in results if not r.passed]
    if stale:
        raise StepFailed(breach_message(stale, threshold))
    get_logger().info("Freshness OK: %s", ", ".join(r.describe() for r in results))
    return results


if __name__ == "__main__":
    freshness_check()
