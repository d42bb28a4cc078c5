"""dagster-dbt's way to run a dbt project: every node an asset of `@dbt_assets`, built by
`DbtCliResource.cli(["build"])` and streamed as asset events. `make parity` materializes them
with `dagster asset materialize -f parity/dagster_dbt_defs.py --select '*'`, as a user would.

The project is DBT_PROJECT_DIR (its profiles.yml beside it), parsed beforehand
(`target/manifest.json`), as dagster-dbt expects in production."""

import os
import sys
from pathlib import Path

from dagster import AssetExecutionContext, Definitions
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

project = DbtProject(
    project_dir=Path(os.environ["DBT_PROJECT_DIR"]),
    profiles_dir=Path(os.environ["DBT_PROJECT_DIR"]),
)


@dbt_assets(manifest=project.manifest_path)
def dbt_project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = Definitions(
    assets=[dbt_project_assets],
    # dbt from this environment (the same dbt-core as the project's).
    resources={
        "dbt": DbtCliResource(
            project_dir=project, dbt_executable=str(Path(sys.executable).with_name("dbt"))
        )
    },
)
