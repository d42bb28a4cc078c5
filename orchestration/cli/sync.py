"""`elt sync`: the Airbyte sync(s), rows per stream."""

from __future__ import annotations

from typing import Annotated, cast

import typer

from orchestration.cli._options import FLAG_ORIGINS, BlockName, Settings, overrides, setting_flags
from orchestration.cli._output import line, table
from orchestration.cli._policy import configure, run_flow
from orchestration.errors import AirbyteSyncFailed

__all__ = ["show_syncs", "sync"]


@setting_flags("airbyte.max_concurrent_syncs", "embedded.faker_count", "embedded.faker_seed")
def sync(
    settings: Settings,
    connection: Annotated[
        list[str] | None,
        typer.Option("--connection", "-c", help="Airbyte connection id (repeatable)."),
    ] = None,
    block: BlockName = None,
) -> None:
    """Run the Airbyte sync(s) and print rows per stream."""
    # imported before the first guarded action, with the collector paused (_policy)
    from orchestration.flows.airbyte_sync import airbyte_sync

    config = configure(
        block,
        overrides(settings),
        FLAG_ORIGINS,
        airbyte=True,
        connection_ids=connection,
        uses_server=True,
    )

    def sync_and_show() -> list:
        try:
            results: list = cast(
                list, airbyte_sync(connection_ids=connection or None, block_name=block, **settings)
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
