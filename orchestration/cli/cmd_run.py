"""`elt run`: the full pipeline, sync -> dbt build -> freshness check."""

from __future__ import annotations

from typing import Annotated, cast

import typer

from orchestration.cli._options import (
    FLAG_ORIGINS,
    BlockName,
    Select,
    Settings,
    overrides,
    setting_flags,
)
from orchestration.cli._output import console, line
from orchestration.cli._policy import configure, run_flow
from orchestration.cli.cmd_sync import show_syncs
from orchestration.errors import AirbyteSyncFailed

__all__ = ["run"]


@setting_flags("embedded.faker_count", "embedded.faker_seed")
def run(
    settings: Settings,
    select: Select = None,
    build_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Build every model; by default only what the sync's new rows (or changed "
            "code) reach since the last complete build is built, the rest reused.",
        ),
    ] = False,
    block: BlockName = None,
) -> None:
    """Run the full pipeline: sync, dbt build (of what changed), freshness check."""
    # imported before the first guarded action, with the collector paused (_policy)
    from orchestration.flows.full_pipeline import full_pipeline
    from orchestration.tasks.pipeline_steps import PipelineSummary

    config = configure(
        block, overrides(settings), FLAG_ORIGINS, warehouse=True, airbyte=True, uses_server=True
    )

    def run_pipeline() -> PipelineSummary:
        try:
            summary = full_pipeline(
                **settings, select=select, block_name=block, build_all=build_all
            )
            return cast(PipelineSummary, summary)
        except AirbyteSyncFailed as failed:  # every connection's row, then the failures
            show_syncs(failed.results)
            raise

    summary = run_flow(config, run_pipeline)
    console.rule("full pipeline")
    for text in summary.lines():
        line(f"  {text}")
