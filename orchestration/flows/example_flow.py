"""`example_flow`: the original dbt pipeline, `dbt run` then `dbt test`."""

from __future__ import annotations

from prefect import flow

from orchestration.dbt.results import DbtRunResult
from orchestration.flows.dbt_transform import run_commands


@flow(name="example-flow", log_prints=True)
def example_flow(target: str | None = None) -> list[DbtRunResult]:
    return run_commands(["run", "test"], target=target, select=None, exclude=None)


if __name__ == "__main__":
    example_flow()
