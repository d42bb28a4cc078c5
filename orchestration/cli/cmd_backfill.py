"""`elt backfill`: rebuild a range of days of the time-partitioned marts (dbt microbatch)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from orchestration.cli._options import BlockName, Select
from orchestration.cli._output import line
from orchestration.cli._policy import configure, guarded, run_flow
from orchestration.errors import UserError

__all__ = ["backfill"]


def backfill(
    start: Annotated[
        datetime | None,
        typer.Option("--start", formats=["%Y-%m-%d"], help="The first day rebuilt (UTC)."),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--end", formats=["%Y-%m-%d"], help="The last day rebuilt (included)."),
    ] = None,
    select: Select = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Batches at once (dbt threads; the profile's)."),
    ] = None,
    retry: Annotated[
        bool,
        typer.Option("--retry", help="`dbt retry`: rebuild only the days the last one failed."),
    ] = False,
    block: BlockName = None,
) -> None:
    """Rebuild days START through END of the time-partitioned models (dbt microbatch; all of
    them unless --select) and what depends on them: one dbt build, a line per day and model."""
    # imported before the first guarded action, with the collector paused (_policy)
    from orchestration.dbt.microbatch import BackfillResult, Days
    from orchestration.flows.backfill import backfill as backfill_flow

    first, last = (start.date() if start else None), (end.date() if end else None)

    def check_range() -> None:
        if retry:
            return
        if first is None or last is None:
            raise UserError("give --start and --end (the first and last day rebuilt, YYYY-MM-DD)")
        Days(first, last).check(datetime.now(UTC).date())

    guarded(check_range)  # a reversed range is said before any server or dbt starts
    config = configure(block, warehouse=True, uses_server=True)
    result: BackfillResult = run_flow(
        config,
        lambda: backfill_flow(
            start=first, end=last, select=select, concurrency=concurrency, retry=retry,
            block_name=block,
        ),
    )  # fmt: skip
    line(result.line())
