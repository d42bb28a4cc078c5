"""`dbt_transform`: `dbt deps` then `dbt build`, with a per-node result table."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from orchestration.artifacts import publish_table
from orchestration.dbt.results import DbtRunResult
from orchestration.dbt.runner import dbt_args, run_dbt
from orchestration.errors import StepFailed
from orchestration.settings import Settings, get_settings


@task(name="dbt", cache_policy=NO_CACHE)
def dbt_command(
    command: str,
    settings: Settings,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
) -> DbtRunResult:
    result = run_dbt(
        dbt_args(command, settings, select=select or (), exclude=exclude or ()), settings
    )
    if result.nodes:
        publish_table(
            f"dbt-{command}-results",
            [n.as_row() for n in result.nodes],
            f"dbt {command}: every node's status, duration and rows affected",
        )
    if not result.success:
        raise StepFailed(result.failure_message())
    return result


def run_commands(
    commands: list[str],
    *,
    target: str | None,
    select: list[str] | None,
    exclude: list[str] | None,
) -> list[DbtRunResult]:
    settings = get_settings(dbt_target=target)
    settings.require_warehouse()
    return [dbt_command(c, settings, select, exclude) for c in commands]


@flow(name="dbt-transform", log_prints=True)
def dbt_transform(
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    target: str | None = None,
) -> DbtRunResult:
    """Install dbt packages, then build (seeds, models, snapshots, tests) the selection."""
    return run_commands(["deps", "build"], target=target, select=select, exclude=exclude)[-1]


if __name__ == "__main__":
    dbt_transform()
