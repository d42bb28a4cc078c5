"""`dbt_transform`: `dbt deps` (when packages changed) then `dbt build`, at dbt's own speed.

dbt runs in-process; its events drive live progress (log lines and a progress artifact), a
Prefect event per failed node and, at the end, a table artifact with every node. A retried
flow run (Prefect retries, or `retry=True`) runs `dbt retry`: only what failed or was skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

from orchestration.config import Config, DbtConfig, DbtTarget
from orchestration.dbt.builds import record_builds
from orchestration.dbt.run_results import DbtRunResult, run_results_since
from orchestration.dbt.runner import run_dbt
from orchestration.dbt.whole_marts import whole_marts_vars
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.logs import get_logger
from orchestration.tasks.changed_builds import build_changes
from orchestration.tasks.dbt_commands import (
    check_selection,
    dbt_command,
    install_packages,
    transform_config,
)


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
    changed_only: bool = False,
    keep_state: bool = False,
    reshaped: list[str] | None = None,
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

    `changed_only` builds only what new source rows or changed code reach since the target's
    last complete build, and reuses the rest; that build, or with `keep_state` a whole one,
    becomes the target's last complete build (kept on the Prefect server) unless the build
    was narrowed by `select` or an `exclude` of its own. `reshaped`: source tables
    (`source.table`) whose columns changed (schema drift): changed, whatever their rows.
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
        "dbt_vars": whole_marts_vars(config.dbt.project_path, vars),  # no days given: whole
    }
    if (changed_only or keep_state) and not retrying and not node_tasks:
        complete = not select and set(exclude or []) <= set(config.dbt.exclude)
        result = build_changes(
            config,
            dbt_target,
            options,
            changed_only=changed_only,
            keep_state=complete,
            reshaped=reshaped,
        )
        check_selection(result, config, options["select"], allow_empty)
        return result
    if node_tasks:
        args = config.dbt.args(command, **options)
        return build_with_node_tasks(config.dbt, config.dbt_env(dbt_target), args, dbt_target)
    result = interrupts.unless_cancelled(dbt_command(command, config, dbt_target, options))
    check_selection(result, config, options["select"], allow_empty)
    return result


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
    from orchestration.server.local_server import run_as_script

    run_as_script(dbt_transform)
