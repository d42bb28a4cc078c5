"""`backfill`: rebuild a range of days of the time-partitioned (microbatch) marts and what
depends on them, as one dbt invocation, each day visible as it finishes.

dbt does the work, at its own speed: `dbt build --event-time-start/--event-time-end` cuts each
microbatch model into its daily batches (run concurrently where the adapter allows, up to the
threads: `concurrency`), and `dbt retry` reruns only the batches that failed (and what dbt
skipped because of them). The flow checks the range first, logs a line per batch, emits an
event per failed day, and ends with a table artifact of days x models (status, rows, seconds).
A retried run (Prefect's retries, or `retry=True`) rebuilds only what failed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from orchestration import interrupts
from orchestration.artifacts import publish_table
from orchestration.config import Config, DbtTarget
from orchestration.dbt.backfill import (
    Batch,
    BatchLog,
    Days,
    TimeModel,
    check_begin,
    selection,
    time_models,
)
from orchestration.dbt.runner import run_dbt
from orchestration.errors import StepFailed, UserError
from orchestration.flows.dbt_transform import (
    earlier_attempt_left_results,
    install_packages,
    parsed_project,
    run_dbt_command,
    transform_config,
)
from orchestration.logs import get_logger
from orchestration.warehouse import rows_per_day

DAY_FAILED_EVENT = "elt.backfill.day.failed"


@dataclass
class BackfillResult:
    target: str
    days: Days
    models: list[str]  # the time-partitioned models backfilled
    batches: list[Batch] = field(default_factory=list)
    skipped_models: list[str] = field(default_factory=list)
    retried: bool = False
    dbt_error: str = ""  # dbt's own failure, when a node other than a batch failed

    @property
    def failed(self) -> list[Batch]:
        return [b for b in self.batches if b.status == "error"]

    def line(self) -> str:
        built = sum(1 for b in self.batches if b.status == "success")
        what = "retried" if self.retried else "backfilled"
        text = (
            f"{what} {self.days} ({len(self.days)} days) of {', '.join(self.models)} on target"
            f" {self.target}: {built} of {len(self.batches)} batches built"
        )
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.skipped_models:
            text += f"; skipped by dbt after a failure: {', '.join(self.skipped_models)}"
        return text

    def failure(self) -> StepFailed:
        shown = "; ".join(f"{b.model} {b.day}: {b.error}" for b in self.failed[:10])
        more = f" (and {len(self.failed) - 10} more)" if len(self.failed) > 10 else ""
        why = f"{shown}{more}" if self.failed else self.dbt_error
        return StepFailed(
            f"{self.line()}: {why}: fix the cause, then `elt backfill --retry` rebuilds only"
            " what failed"
        )


def selected_ids(config: Config, target: DbtTarget, select: Sequence[str]) -> list[str]:
    """The unique ids dbt's own `ls` selects."""
    args = config.dbt.args("ls", select=select)
    args += ["--resource-type", "model", "--output", "json", "--output-keys", "unique_id"]
    result = run_dbt(args, config.dbt_env(target))
    if not result.success:
        raise result.failure()
    return [json.loads(line)["unique_id"] for line in result.raw or []]


def last_backfill(config: Config) -> tuple[Days, list[str]]:
    """The range and selection of the last dbt invocation in the target path, which `dbt
    retry` replays."""
    path = config.dbt.target_path(config.env) / "run_results.json"
    try:
        args = json.loads(path.read_text())["args"]
        start, end = args["event_time_start"], args["event_time_end"]
        select = [str(s) for s in args.get("select") or []]
    except (OSError, ValueError, KeyError, TypeError):
        start = end = None
    if not (start and end):
        raise UserError(
            f"the last dbt invocation in {path.parent} was not a backfill: nothing to retry;"
            " run `elt backfill --start DATE --end DATE`"
        )
    first = datetime.fromisoformat(str(start)).date()
    after = datetime.fromisoformat(str(end)).date()
    return Days(first, after - timedelta(days=1)), select


def emit_day_failed(batch: Batch, target: str) -> None:
    emit_event(
        event=DAY_FAILED_EVENT,
        resource={
            "prefect.resource.id": f"elt.backfill.{target}.{batch.model}.{batch.day}",
            "prefect.resource.name": f"{batch.model} {batch.day}",
        },
        payload={"model": batch.model, "day": batch.day, "error": batch.error[:2000]},
    )


def days_table(
    days: Days, models: Sequence[TimeModel], log: BatchLog, rows: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """One row per day, three columns per model: status, rows, seconds."""
    by_key = {(b.model, b.day[:10]): b for b in log.batches}
    table = []
    for day in (d.isoformat() for d in days):
        row: dict[str, Any] = {"day": day}
        for model in models:
            batch = by_key.get((model.name, day))
            skipped = model.name in log.skipped_models
            status = batch.status if batch else ("skipped" if skipped else "not run")
            row[f"{model.name} status"] = status
            row[f"{model.name} rows"] = rows.get(model.name, {}).get(day, 0)
            row[f"{model.name} s"] = round(batch.seconds, 2) if batch else ""
        table.append(row)
    return table


@task(name="dbt-backfill", cache_policy=NO_CACHE, task_run_name="dbt backfill {days}")
@interrupts.cancel_on_interrupt
def run_backfill(
    config: Config,
    target: DbtTarget,
    days: Days,
    select: list[str],
    models: list[TimeModel],
    retry: bool,
) -> BackfillResult:
    log = get_logger()
    total = len(days) * len(models)
    finished: list[Batch] = []

    def on_batch(batch: Batch) -> None:
        finished.append(batch)
        where = f"({len(finished)}/{total})"
        if batch.status == "error":
            log.warning("backfill: %s %s failed %s: %s", batch.model, batch.day, where, batch.error)
            emit_day_failed(batch, target.name)
        else:
            log.info("backfill: %s %s %s in %.2fs %s", batch.model, batch.day, batch.status,
                     batch.seconds, where)  # fmt: skip

    batches = BatchLog(on_batch=on_batch)
    options: dict[str, Any] = {} if retry else {"select": select, "event_time": days.event_time}
    result = run_dbt_command("retry" if retry else "build", config, target, options, [batches])
    names = {m.name for m in models}
    rows: dict[str, dict[str, int]] = {}
    with config.warehouse(target) as conn:
        for model in models:
            if model.name not in batches.skipped_models:
                rows[model.name] = rows_per_day(
                    conn, model.schema, model.identifier, model.relation, model.event_time,
                    *days.event_time,
                )  # fmt: skip
    publish_table(
        "backfill",
        days_table(days, models, batches, rows),
        f"Backfill {days} on target {target.name}: each day of each time-partitioned model",
    )
    outcome = BackfillResult(
        target.name,
        days,
        [m.name for m in models],
        [b for b in batches.batches if b.model in names],
        sorted(batches.skipped_models & names),
        retried=retry,
        dbt_error="" if result.success else result.failure_message(),
    )
    log.info(outcome.line())
    return outcome


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
    given). With `retry=True`, or when Prefect retries this flow run and its earlier attempt
    left dbt's run results, `dbt retry` rebuilds only the batches that failed in the last
    backfill (and what dbt skipped because of them); else the range is built again.
    """
    config = transform_config(threads=concurrency, block_name=block_name)
    target = config.require_warehouse()
    retrying = retry or earlier_attempt_left_results(config)  # as dbt_transform retries
    if retrying:
        days, select = last_backfill(config)
    elif start is None or end is None:
        raise UserError("a backfill needs --start and --end (the first and last day rebuilt)")
    else:
        days = Days(start, end)
        days.check(datetime.now(UTC).date())
    install_packages(config, target)
    manifest = parsed_project(config, target)
    specs = selection(select or [])
    models = time_models(manifest, selected_ids(config, target, specs))
    check_begin(days, models, specs, config.dbt.project_path)
    get_logger().info(
        "%s %s: %d days of %s", "Retrying" if retrying else "Backfilling", days, len(days),
        ", ".join(m.name for m in models),
    )  # fmt: skip
    outcome = interrupts.unless_cancelled(
        run_backfill(config, target, days, specs, models, retrying)
    )
    if outcome.failed or outcome.dbt_error:
        raise outcome.failure()
    return outcome


__all__ = ["DAY_FAILED_EVENT", "BackfillResult", "backfill"]
