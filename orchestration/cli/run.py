"""`elt run`: the full pipeline, sync -> dbt build -> freshness check."""

from __future__ import annotations

from orchestration.cli._options import FLAGS, BlockName, Count, Seed, Select
from orchestration.cli._output import console, line
from orchestration.cli._policy import configure, run_flow
from orchestration.cli.sync import show_syncs

__all__ = ["run"]


def run(
    count: Count = None, seed: Seed = None, select: Select = None, block: BlockName = None
) -> None:
    """Run the full pipeline: sync, dbt build, freshness check."""
    config = configure(
        block,
        {"embedded.faker_count": count, "embedded.faker_seed": seed},
        FLAGS,
        warehouse=True,
        airbyte=True,
        uses_server=True,
    )
    from orchestration.flows.airbyte_sync import AirbyteSyncFailed
    from orchestration.flows.full_pipeline import PipelineSummary, full_pipeline

    def run_pipeline() -> PipelineSummary:
        try:
            return full_pipeline(
                faker_count=count, faker_seed=seed, select=select, block_name=block
            )
        except AirbyteSyncFailed as failed:  # every connection's row, then the failures
            show_syncs(failed.results)
            raise

    summary = run_flow(config, run_pipeline)
    console.rule("full pipeline")
    for text in summary.lines():
        line(f"  {text}")
