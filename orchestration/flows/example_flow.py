"""`example_flow`: the original dbt pipeline, `dbt run` then `dbt test`."""

from __future__ import annotations

from prefect import flow

from orchestration.dbt.run_results import DbtRunResult
from orchestration.runtime import interrupts
from orchestration.tasks.dbt_commands import dbt_command, install_packages, transform_config


@flow(name="example-flow", log_prints=True)
@interrupts.cancel_on_interrupt
def example_flow(target: str | None = None) -> list[DbtRunResult]:
    config = transform_config(target)
    dbt_target = config.require_warehouse()
    install_packages(config, dbt_target)
    return [
        interrupts.unless_cancelled(dbt_command(command, config, dbt_target))
        for command in ("run", "test")
    ]


if __name__ == "__main__":
    from orchestration.server.local_server import run_as_script

    run_as_script(example_flow)
