"""`elt sync`: the Airbyte sync(s), rows per stream."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli._options import FLAGS, BlockName, Count, Seed
from orchestration.cli._output import line, table
from orchestration.cli._policy import configure, run_flow

__all__ = ["show_syncs", "sync"]


def sync(
    connection: Annotated[
        list[str] | None,
        typer.Option("--connection", "-c", help="Airbyte connection id (repeatable)."),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(min=1, help="Syncs running at once (AIRBYTE_MAX_CONCURRENT_SYNCS)."),
    ] = None,
    count: Count = None,
    seed: Seed = None,
    block: BlockName = None,
) -> None:
    """Run the Airbyte sync(s) and print rows per stream."""
    overrides = {
        "embedded.faker_count": count,
        "embedded.faker_seed": seed,
        "airbyte.max_concurrent_syncs": max_concurrent,
    }
    config = configure(
        block, overrides, FLAGS, airbyte=True, connection_ids=connection, uses_server=True
    )
    from orchestration.flows.airbyte_sync import AirbyteSyncFailed, airbyte_sync

    def sync_and_show() -> list:
        try:
            results = airbyte_sync(
                connection_ids=connection or None,
                max_concurrent=max_concurrent,
                faker_count=count,
                faker_seed=seed,
                block_name=block,
            )
        except AirbyteSyncFailed as failed:  # show every connection, then the failures
            show_syncs(failed.results)
            raise
        show_syncs(results)
        return results

    run_flow(config, sync_and_show)


def show_syncs(results: list) -> None:
    """One row per connection, then the rows each stream loaded."""
    table(
        "Airbyte syncs", [{k: v for k, v in r.as_row().items() if k != "streams"} for r in results]
    )
    for r in results:
        for stream, rows in r.streams.items():
            line(f"  {stream}: {rows} rows")
