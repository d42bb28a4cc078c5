"""`elt freshness`: every freshness SLA of the dbt project, checked."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli._options import FLAGS, BlockName
from orchestration.cli._output import table
from orchestration.cli._policy import configure, run_flow

__all__ = ["freshness"]


def freshness(
    threshold_hours: Annotated[
        float | None, typer.Option(help="Override FRESHNESS_THRESHOLD_HOURS.")
    ] = None,
    block: BlockName = None,
) -> None:
    """Check every freshness SLA of the dbt project: source tables (dbt source freshness) and
    mart deadlines (meta.sla.deadline_cron); warn shows, error fails."""
    overrides = {"options.freshness_threshold_hours": threshold_hours}
    config = configure(block, overrides, FLAGS, warehouse=True, uses_server=True)
    from orchestration.flows.freshness import FreshnessBreached, freshness_check

    def check_and_show() -> list:
        try:
            results = freshness_check(threshold_hours=threshold_hours, block_name=block)
        except FreshnessBreached as breached:  # every verdict, then the breaches
            table("Freshness", [r.as_row() for r in breached.results])
            raise
        table("Freshness", [r.as_row() for r in results])
        return results

    run_flow(config, check_and_show)
