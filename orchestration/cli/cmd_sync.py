"""`elt sync`: the Airbyte sync(s), rows per stream."""

from __future__ import annotations

from typing import Annotated, cast

import typer

from orchestration.cli._options import FLAG_ORIGINS, BlockName, Settings, overrides, setting_flags
from orchestration.cli._output import table
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
    """The table of the `airbyte-sync-results` artifact: each connection (stream `*`), then
    the rows and bytes of each of its streams, where known."""
    rows = [r for result in results for r in result.table_rows()]
    said = [k for k in rows[0] if k != "streams" and any(r[k] not in ("", None) for r in rows)]
    table("Airbyte syncs", [{k: r[k] for k in said} for r in rows])
