"""dbt as a Prefect task: one dbt command (`dbt_command`) with live progress (log lines and a
progress artifact), a Prefect event per failed node and, at the end, a table artifact with
every node; `dbt deps` only when the packages changed; dbt's own parse and `ls`, in-process.
Every flow that runs dbt runs it through here."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from orchestration.config import Config, DbtTarget, load_config
from orchestration.dbt.builds import record_builds
from orchestration.dbt.deps import deps_needed, record_deps
from orchestration.dbt.progress import FinishedNode, NodeProgress
from orchestration.dbt.run_results import DbtRunResult, node_table
from orchestration.dbt.runner import run_dbt
from orchestration.dbt.selection import selection_error, unmatched
from orchestration.flags import PARAMETER_ORIGINS, from_parameters
from orchestration.limits import warehouse_slot
from orchestration.lineage import record as lineage
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.elt_events import EltEvent, emit_elt_event
from orchestration.runtime.logs import get_logger
from orchestration.runtime.ticker import Ticker


def emit_node_failed(node: FinishedNode, target: DbtTarget) -> None:
    emit_elt_event(
        EltEvent.DBT_NODE_FAILED,
        ("dbt", target.name, node.unique_id),
        node.name,
        {"status": node.status, "resource_type": node.resource_type, "message": node.message},
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


def parsed_project(config: Config, target: DbtTarget) -> Any:
    """dbt's parsed `Manifest` of the project, in-process. Partial parsing makes it cheap, and
    it is taken from dbt's result rather than written to `target/` and read back
    (`--no-write-json`): a build that follows writes `manifest.json` as dbt always does."""
    with Ticker(lambda s: f"dbt parse: reading the project ({s:.0f}s)", get_logger().info):
        result = run_dbt([*config.dbt.args("parse"), "--no-write-json"], config.dbt_env(target))
    if not result.success:
        raise result.failure()
    return result.raw


def selected_ids(config: Config, target: DbtTarget, select: Sequence[str]) -> list[str]:
    """The unique ids dbt's own `ls` selects."""
    args = config.dbt.args("ls", select=select)
    args += ["--resource-type", "model", "--output", "json", "--output-keys", "unique_id"]
    result = run_dbt(args, config.dbt_env(target))
    if not result.success:
        raise result.failure()
    return [json.loads(line)["unique_id"] for line in result.raw or []]
