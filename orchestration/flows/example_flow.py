"""`example_flow`: the original dbt pipeline, `dbt run` then `dbt test`."""

from __future__ import annotations

from prefect import flow

from orchestration.dbt.results import DbtRunResult
from orchestration.flows.dbt_transform import dbt_command, install_packages, transform_config


@flow(name="example-flow", log_prints=True)
def example_flow(target: str | None = None) -> list[DbtRunResult]:
    config = transform_config(target)
    dbt_target = config.require_warehouse()
    install_packages(config, dbt_target)
    return [dbt_command("run", config, dbt_target), dbt_command("test", config, dbt_target)]


if __name__ == "__main__":
    example_flow()
