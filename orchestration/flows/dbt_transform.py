"""`dbt_transform`: `dbt deps` (when packages changed) then `dbt build`, at dbt's own speed.

dbt runs in-process; its events drive live progress (log lines and a progress artifact), a
Prefect event per failed node and, at the end, a table artifact with every node. A retried
flow run (Prefect retries, or `retry=True`) runs `dbt retry`: only what failed or was skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.runtime import flow_run

from orchestration.config import Config, DbtConfig, DbtTarget, load_config
from orchestration.dbt.builds import record_builds
from orchestration.dbt.deps import deps_needed, record_deps
from orchestration.dbt.progress import FinishedNode, NodeProgress
from orchestration.dbt.results import DbtRunResult, node_table, run_results_since
from orchestration.dbt.runner import run_dbt
from orchestration.dbt.selection import selection_error, unmatched
from orchestration.flags import PARAMETER_ORIGINS, from_parameters
from orchestration.limits import warehouse_slot
from orchestration.lineage import record as lineage
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.logs import get_logger
from orchestration.runtime.ticker import Ticker

NODE_FAILED_EVENT = "elt.dbt.node.failed"


def emit_node_failed(node: FinishedNode, target: DbtTarget) -> None:
    emit_event(
        event=NODE_FAILED_EVENT,
        resource={
            "prefect.resource.id": f"dbt.{target.name}.{node.unique_id}",
            "prefect.resource.name": node.name,
        },
        payload={
            "status": node.status,
            "resource_type": node.resource_type,
            "message": node.message[:2000],
        },
    )


@task(name="dbt", cache_policy=NO_CACHE, task_run_name="dbt {command}")
@interrupts.cancel_on_interrupt
def dbt_command(
    command: str,
    config: Config,
    target: DbtTarget,
    options: dict[str, Any] | None = None,
) -> DbtRunResult:
    """Run one dbt command with live progress; fail with every failed node named. (Secrets
    stay inside `config` as SecretStr until dbt's environment is exported.)"""
    result = run_dbt_command(command, config, target, options)
    if not result.success:
        raise result.failure()
    return result


def run_dbt_command(
    command: str,
    config: Config,
    target: DbtTarget,
    options: dict[str, Any] | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> DbtRunResult:
    """`dbt_command`'s work, its failure left to the caller: progress, results, lineage.
    `callbacks` also receive dbt's events (e.g. a backfill's `BatchLog`)."""
    progress_id = cast(  # called from sync code: the artifact's id, not a coroutine
        UUID,
        create_progress_artifact(
            progress=0.0, key=f"dbt-{command}-progress", description=f"dbt {command}: nodes done"
        ),
    )
    progress = NodeProgress(
        command,
        on_progress=lambda pct: update_progress_artifact(progress_id, pct),
        on_failure=lambda node: emit_node_failed(node, target),
    )
    args = config.dbt.args(command, **(options or {}))
    with warehouse_slot(config, target, f"dbt {command}"), progress.watching():
        result = run_dbt(args, config.dbt_env(target), callbacks=[progress, *callbacks])
    result = replace(result, target=target.name)
    if result.success and command in ("build", "retry"):
        milestones.reached(milestones.REBUILT)  # before its task's state, which needs the server
    record_builds(target.name, result.nodes, datetime.now(UTC))
    if result.nodes:
        lineage.dbt(config, target)
        progress.report()
        publish_table(
            f"dbt-{command}-results",
            node_table(result.nodes),
            f"dbt {command}: every node's status, duration, rows affected and message",
        )
    return result


@task(name="dbt-deps", cache_policy=NO_CACHE)
@interrupts.cancel_on_interrupt
def dbt_deps(config: Config, target: DbtTarget) -> None:
    with Ticker(lambda s: f"dbt deps: installing packages ({s:.0f}s)", get_logger().info):
        result = run_dbt(config.dbt.args("deps"), config.dbt_env(target))
    if not result.success:
        raise result.failure()
    record_deps(config.dbt.project_path)


def install_packages(config: Config, target: DbtTarget) -> None:
    if deps_needed(config.dbt.project_path):
        interrupts.unless_cancelled(dbt_deps(config, target))
    else:
        get_logger().info("dbt packages up to date: skipping dbt deps")


def transform_config(
    target: str | None = None,
    threads: int | None = None,
    project_dir: str | None = None,
    profiles_dir: str | None = None,
    block_name: str | None = None,
) -> Config:
    """The configuration with the flow's dbt parameters on top."""
    parameters = {
        "target": target,
        "threads": threads,
        "project_dir": project_dir,
        "profiles_dir": profiles_dir,
    }
    return load_config(block_name, from_parameters(parameters), PARAMETER_ORIGINS)


def check_selection(
    result: DbtRunResult, config: Config, select: list[str], allow_empty: bool | None
) -> None:
    """Fail on a selector that matched nothing, unless `allow_empty` (None: no such flag)."""
    specs = unmatched(result, select)
    if specs and not allow_empty:
        listing = config.dbt.args("ls")[:5]  # runnable from any directory
        manifest = config.dbt.target_path(config.env) / "manifest.json"
        raise selection_error(
            specs, config.dbt.project_path, manifest, listing, allow_empty is False
        )


@task(name="dbt-check-selection", cache_policy=NO_CACHE)
@interrupts.cancel_on_interrupt
def check_dbt_selection(select: list[str], block_name: str | None = None) -> None:
    """Fail in seconds, before a sync, on a selection that matches no node: dbt's own `ls`,
    in-process, on its partially parsed manifest (the build then reuses it). `ls` reads no
    table, so it needs no warehouse slot."""
    config = transform_config(block_name=block_name)
    target = config.require_warehouse()
    install_packages(config, target)
    with Ticker(lambda s: f"dbt ls: checking the selection ({s:.0f}s)", get_logger().info):
        result = run_dbt(config.dbt.args("ls", select=select), config.dbt_env(target))
    if not result.success:
        raise result.failure()
    check_selection(result, config, select, allow_empty=None)


def build_with_node_tasks(
    dbt: DbtConfig, env: Mapping[str, str], args: list[str], target: DbtTarget
) -> DbtRunResult:
    """Opt-in: prefect-dbt's runner, one Prefect task per dbt node (costly on big projects)."""
    from dbt_common.events.base_types import EventLevel
    from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

    runner = PrefectDbtRunner(
        settings=PrefectDbtSettings(
            project_dir=dbt.project_path,
            profiles_dir=dbt.profiles_path,
            # explicit: its default maps Prefect's "WARNING" to a level dbt does not have
            log_level=EventLevel.INFO,
        ),
        raise_on_failure=False,
    )
    result = replace(run_dbt(args, env, runner=runner), target=target.name)
    record_builds(target.name, result.nodes, datetime.now(UTC))
    if not result.success:
        raise result.failure()
    return result


@flow(name="dbt-transform", log_prints=True)
@interrupts.cancel_on_interrupt
def dbt_transform(
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    full_refresh: bool = False,
    vars: dict[str, Any] | str | None = None,
    target: str | None = None,
    threads: int | None = None,
    project_dir: str | None = None,
    profiles_dir: str | None = None,
    retry: bool = False,
    node_tasks: bool = False,
    allow_empty: bool = False,
    block_name: str | None = None,
) -> DbtRunResult:
    """Install dbt packages if needed, then build (seeds, models, snapshots, tests).

    With `retry=True`, or when Prefect retries this flow run, `dbt retry` rebuilds only the
    nodes that failed or were skipped in the previous build (after a crash, only when the
    crashed attempt left its run results; else everything is built again).
    `node_tasks=True` runs each dbt node as a Prefect task (prefect-dbt), for small projects
    that want a task per node. A
    selection that matches no node fails the run unless `allow_empty`. `vars` is dbt's
    `--vars`: YAML text is handed to dbt as written, a mapping is written as YAML.
    `block_name` takes the dbt (and Snowflake) settings from the blocks of that name; the
    Snowflake credentials reach dbt's profile as environment variables, never as a file.
    """
    config = transform_config(target, threads, project_dir, profiles_dir, block_name)
    dbt_target = config.require_warehouse()
    milestones.expect(milestones.REBUILT)
    install_packages(config, dbt_target)
    retrying = retry or earlier_attempt_left_results(config)
    command = "retry" if retrying else "build"
    if retrying:
        get_logger().info("Retrying: dbt retry rebuilds only what failed or was skipped")
    options: dict[str, Any] = {
        "select": select or config.dbt.select,
        "exclude": exclude or config.dbt.exclude,
        "full_refresh": full_refresh,
        "dbt_vars": vars,
    }
    if node_tasks:
        args = config.dbt.args(command, **options)
        return build_with_node_tasks(config.dbt, config.dbt_env(dbt_target), args, dbt_target)
    result = interrupts.unless_cancelled(dbt_command(command, config, dbt_target, options))
    check_selection(result, config, options["select"], allow_empty)
    return result


def parsed_project(config: Config, target: DbtTarget) -> Any:
    """dbt's parsed `Manifest` of the project, in-process. Partial parsing makes it cheap, and
    it is taken from dbt's result rather than written to `target/` and read back
    (`--no-write-json`): a build that follows writes `manifest.json` as dbt always does."""
    with Ticker(lambda s: f"dbt parse: reading the project ({s:.0f}s)", get_logger().info):
        result = run_dbt([*config.dbt.args("parse"), "--no-write-json"], config.dbt_env(target))
    if not result.success:
        raise result.failure()
    return result.raw


def earlier_attempt_left_results(config: Config) -> bool:
    """On a later attempt of this flow run (Prefect's retries, or the rerun of a run whose
    process was killed), whether the earlier attempt's dbt left run results to retry from;
    when it did not (killed mid-command, or a new pod), everything is built again."""
    if (flow_run.run_count or 1) <= 1:
        return False
    context = FlowRunContext.get()
    started = context.flow_run.start_time if context and context.flow_run else None
    if started is not None and run_results_since(config.dbt.target_path(config.env), started):
        return True
    get_logger().info(
        "Attempt %d of this run: the earlier attempt left no dbt run results (its process was "
        "killed mid-command?), so dbt builds everything again",
        flow_run.run_count,
    )
    return False


if __name__ == "__main__":
    from orchestration.server.local_server import use_local_server

    use_local_server()  # the shared local server, as `elt` commands use
    dbt_transform()
