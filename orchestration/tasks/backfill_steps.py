"""The steps of a backfill: the dbt task that builds its days (or, for a retry, only the days
no attempt built), the event per failed day, the days x models table artifact, and which
backfill a retry resumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbt.artifacts.schemas.results import NodeStatus
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from orchestration.checks.warehouse import rows_per_day
from orchestration.config import Config, DbtTarget
from orchestration.dbt.backfill_journal import Journal, Rebuild
from orchestration.dbt.microbatch import (
    BackfillResult,
    Batch,
    BatchLog,
    Days,
    TimeModel,
)
from orchestration.dbt.run_results import DbtRunResult
from orchestration.errors import UserError
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.elt_events import EltEvent, emit_elt_event
from orchestration.runtime.logs import get_logger
from orchestration.tasks.dbt_commands import (
    run_dbt_command,
)


def emit_day_failed(batch: Batch, target: str) -> None:
    emit_elt_event(
        EltEvent.BACKFILL_DAY_FAILED,
        ("backfill", target, batch.model, batch.day),
        f"{batch.model} {batch.day}",
        {"model": batch.model, "day": batch.day, "error": batch.error},
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
        if batch.status == NodeStatus.Error:
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
