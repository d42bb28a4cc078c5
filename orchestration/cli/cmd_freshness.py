"""`elt freshness`: every freshness SLA of the dbt project, checked."""

from __future__ import annotations

from typing import cast

from orchestration.cli._options import FLAG_ORIGINS, BlockName, Settings, overrides, setting_flags
from orchestration.cli._output import table
from orchestration.cli._policy import configure, run_flow
from orchestration.errors import FreshnessBreached

__all__ = ["freshness"]


@setting_flags("options.freshness_threshold_hours")
def freshness(settings: Settings, block: BlockName = None) -> None:
    """Check every freshness SLA of the dbt project: source tables (dbt source freshness) and
    mart deadlines (meta.sla.deadline_cron); warn shows, error fails."""
    # imported before the first guarded action, with the collector paused (_policy)
    from orchestration.checks.freshness import SlaResult
    from orchestration.flows.freshness_check import freshness_check

    config = configure(block, overrides(settings), FLAG_ORIGINS, warehouse=True, uses_server=True)

    def check_and_show() -> list:
        try:
            results: list[SlaResult] = cast(list, freshness_check(block_name=block, **settings))
        except FreshnessBreached as breached:  # every verdict, then the breaches
            table("Freshness", [r.as_row() for r in breached.results])
            raise
        table("Freshness", [r.as_row() for r in results])
        return results

    run_flow(config, check_and_show)
