"""`backfill`: rebuild a range of days of the time-partitioned (microbatch) marts and what
depends on them, as one dbt invocation, each day visible as it finishes.

dbt does the work, at its own speed: `dbt build --event-time-start/--event-time-end` cuts each
microbatch model into its daily batches (run concurrently where the adapter allows, up to the
threads: `concurrency`), and `dbt retry` reruns only the batches that failed (and what dbt
skipped because of them). The flow checks the range first, logs a line per batch, emits an
event per failed day, and ends with a table artifact of days x models (status, rows, seconds).

A backfill keeps its own progress as dbt reports each batch (`orchestration.dbt.
backfill_journal`): a retry (`retry=True`, or Prefect's retry of the same flow run) resumes
the last backfill, whatever ended it (a failed day, `kill -9`, an evicted pod), and rebuilds
only the days no attempt built, then what depends on them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow
from prefect.runtime import flow_run

from orchestration.dbt.backfill_journal import Journal, journal_folder
from orchestration.dbt.microbatch import (
    BackfillResult,
    Days,
    check_begin,
    selection,
    time_models,
)
from orchestration.errors import UserError
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.logs import get_logger
from orchestration.tasks.backfill_steps import (
    backfill_to_retry,
    finishing_selection,
    run_backfill,
)
from orchestration.tasks.dbt_commands import (
    install_packages,
    parsed_project,
    selected_ids,
    transform_config,
)


@flow(name="backfill", log_prints=True)
@interrupts.cancel_on_interrupt
def backfill(
    start: date | None = None,
    end: date | None = None,
    select: list[str] | None = None,
    concurrency: int | None = None,
    retry: bool = False,
    block_name: str | None = None,
) -> BackfillResult:
    """Rebuild the days `start` through `end` (both included) of the selected time-partitioned
    models (all of them when `select` is empty) and of what depends on them.

    `concurrency` bounds how many batches run at once (dbt's threads; the profile's when not
    given). With `retry=True`, or when Prefect retries this flow run, the backfill resumes
    where the last attempt stopped (see the module's docstring); else the range is built.
    """
    config = transform_config(threads=concurrency, block_name=block_name)
    target = config.require_warehouse()
    folder = journal_folder(config.dbt.target_path(config.env), target.name)
    earlier = backfill_to_retry(folder, retry)
    if earlier is not None:
        days, specs = earlier.days, earlier.select
    elif start is None or end is None:
        raise UserError("a backfill needs --start and --end (the first and last day rebuilt)")
    else:
        days, specs = Days(start, end), selection(select or [])
        days.check(datetime.now(UTC).date())
    install_packages(config, target)
    manifest = parsed_project(config, target)
    ids = selected_ids(config, target, specs)
    models = time_models(manifest, ids)
    check_begin(days, models, specs, config.dbt.project_path)
    names = [m.name for m in models]
    then = finishing_selection(manifest, ids, models)
    milestones.expect(f"days {days} backfilled")
    milestones.resume_with("elt backfill --retry")  # its journal is kept from here on
    if earlier is None:
        journal = Journal.begin(folder, days, specs, names, str(flow_run.id or ""))
        rebuilds = None
    else:
        journal = earlier
        journal.models = names  # dbt's order, as the project is now
        if earlier.finished:
            return BackfillResult(target.name, days, names, retried=True, nothing_left=True)
        rebuilds = journal.unfinished()
    get_logger().info(
        "%s %s: %d days of %s", "Resuming" if rebuilds is not None else "Backfilling", days,
        len(days), ", ".join(names),
    )  # fmt: skip
    outcome = interrupts.unless_cancelled(
        run_backfill(config, target, days, specs, models, then, journal, rebuilds)
    )
    if outcome.failed or outcome.dbt_error:
        raise outcome.failure()
    return outcome


__all__ = ["backfill"]
