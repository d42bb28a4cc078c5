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

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.runtime import flow_run

from orchestration.checks.warehouse import rows_per_day
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
from orchestration.dbt.backfill_journal import Journal, Rebuild, journal_folder
from orchestration.dbt.results import DbtRunResult
from orchestration.dbt.runner import run_dbt
from orchestration.errors import StepFailed, UserError
from orchestration.flows.dbt_transform import (
    install_packages,
    parsed_project,
    run_dbt_command,
    transform_config,
)
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.logs import get_logger

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
    built_earlier: int = 0  # a retry's batches that an earlier attempt had built
    nothing_left: bool = False  # a retry of a backfill that had built everything

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
        if self.nothing_left:
            return f"{text}: nothing to retry, the last backfill had built every batch"
        if self.retried:
            text += f" (the unfinished ones; {self.built_earlier} built before)"
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
    days: Days,
    models: Sequence[TimeModel],
    log: BatchLog,
    rows: dict[str, dict[str, int]],
    journal: Journal | None = None,
) -> list[dict[str, Any]]:
    """One row per day, three columns per model: status, rows, seconds. A day an earlier
    attempt of a retried backfill built is `built before`."""
    by_key = {(b.model, b.day[:10]): b for b in log.batches}
    table = []
    for day in days:
        row: dict[str, Any] = {"day": day.isoformat()}
        for model in models:
            batch = by_key.get((model.name, day.isoformat()))
            if batch:
                status = batch.status
            elif journal and day in journal.built.get(model.name, set()):
                status = "built before"
            else:
                status = "skipped" if model.name in log.skipped_models else "not run"
            row[f"{model.name} status"] = status
            row[f"{model.name} rows"] = rows.get(model.name, {}).get(day.isoformat(), 0)
            row[f"{model.name} s"] = round(batch.seconds, 2) if batch else ""
        table.append(row)
    return table


def rebuild_unfinished(
    config: Config,
    target: DbtTarget,
    rebuilds: list[Rebuild],
    then: list[str],
    batches: BatchLog,
) -> DbtRunResult | None:
    """A retry's dbt invocations: `dbt run` of each range of unfinished days of its models, in
    dbt's order, then `dbt build` of `then` (what depends on them, the tests of them) once
    they are all built. It stops at the first that fails: a dependent must not build on a day
    that failed."""
    log = get_logger()
    result = None
    for step in rebuilds:
        log.info("backfill: rebuilding %s of %s", step.days, ", ".join(step.models))
        options = {"select": list(step.models), "event_time": step.days.event_time}
        result = run_dbt_command("run", config, target, options, [batches])
        if not result.success:
            return result
    if then:
        log.info("backfill: building and testing what depends on them")
        result = run_dbt_command("build", config, target, {"select": then}, [batches])
    return result


def finishing_selection(manifest: Any, ids: list[str], models: list[TimeModel]) -> list[str]:
    """What a retry builds after the days: the selected models that are not time-partitioned
    and the tests of the selected nodes (a test is named by its node's name)."""
    time_ids = {m.unique_id for m in models}
    others = [uid for uid in ids if uid not in time_ids]
    selected = set(ids)
    tests = [
        node.name
        for uid, node in manifest.nodes.items()
        if uid.startswith("test.") and selected & set(getattr(node.depends_on, "nodes", []))
    ]
    return sorted({uid.split(".")[-1] for uid in others} | set(tests))


@task(name="dbt-backfill", cache_policy=NO_CACHE, task_run_name="dbt backfill {days}")
@interrupts.cancel_on_interrupt
def run_backfill(
    config: Config,
    target: DbtTarget,
    days: Days,
    select: list[str],
    models: list[TimeModel],
    then: list[str],
    journal: Journal,
    rebuilds: list[Rebuild] | None,
) -> BackfillResult:
    """Build `days` of the selection, or, for a retry, only `rebuilds`, then `then`."""
    log = get_logger()
    retried = rebuilds is not None
    total = sum(len(r.days) * len(r.models) for r in rebuilds or []) if retried else None
    total = total if total is not None else len(days) * len(models)
    finished: list[Batch] = []

    def on_batch(batch: Batch) -> None:
        journal.record(batch)  # first: the retry of a kill must know it
        finished.append(batch)
        where = f"({len(finished)}/{total})"
        if batch.status == "error":
            log.warning("backfill: %s %s failed %s: %s", batch.model, batch.day, where, batch.error)
            emit_day_failed(batch, target.name)
        else:
            log.info("backfill: %s %s %s in %.2fs %s", batch.model, batch.day, batch.status,
                     batch.seconds, where)  # fmt: skip

    batches = BatchLog(on_batch=on_batch)
    built_before = journal.built_count()
    if rebuilds is None:
        options = {"select": select, "event_time": days.event_time}
        result: DbtRunResult | None = run_dbt_command("build", config, target, options, [batches])
    else:
        result = rebuild_unfinished(config, target, rebuilds, then, batches)
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
        days_table(days, models, batches, rows, journal if retried else None),
        f"Backfill {days} on target {target.name}: each day of each time-partitioned model",
    )
    outcome = BackfillResult(
        target.name,
        days,
        [m.name for m in models],
        [b for b in batches.batches if b.model in names],
        sorted(batches.skipped_models & names),
        retried=retried,
        dbt_error="" if result is None or result.success else result.failure_message(),
        built_earlier=built_before if retried else 0,
    )
    if not (outcome.failed or outcome.dbt_error):
        journal.finish()
        milestones.reached(f"days {days} backfilled")
    log.info(outcome.line())
    return outcome


def backfill_to_retry(folder: Any, retry: bool) -> Journal | None:
    """The backfill a retry resumes: this flow run's own on Prefect's retry of it (its earlier
    attempt failed or its process was killed), else with `retry` the last one started."""
    if (flow_run.run_count or 1) > 1:
        own = Journal.latest(folder, str(flow_run.id))
        if own is not None:
            return own
    if not retry:
        return None
    last = Journal.latest(folder)
    if last is None:
        raise UserError(
            f"no backfill was started with the dbt target path {folder.parents[1]}: nothing to"
            " retry; run `elt backfill --start DATE --end DATE`"
        )
    return last


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


__all__ = ["DAY_FAILED_EVENT", "BackfillResult", "backfill"]
