"""`example_flow`: the original dbt pipeline, `dbt run` then `dbt test`."""

from __future__ import annotations

from prefect import flow

from orchestration.dbt.results import DbtRunResult
from orchestration.flows.dbt_transform import dbt_command, install_packages, transform_settings


@flow(name="example-flow", log_prints=True)
def example_flow(target: str | None = None) -> list[DbtRunResult]:
    settings = transform_settings(target)
    install_packages(settings)
    return [dbt_command("run", settings), dbt_command("test", settings)]


if __name__ == "__main__":
    example_flow()
