"""dagster-dbt's way to backfill dbt microbatch models by day: `@dbt_assets` over a
`DailyPartitionsDefinition`, with a single-run backfill policy, so that a partition range runs
as one `dbt build --event-time-start --event-time-end` (dagster-dbt's documented pattern).
`make parity` runs it with `dagster asset materialize --select '*' --partition-range A...B`.

The project is DBT_PROJECT_DIR (its profiles.yml beside it), parsed beforehand; BACKFILL_BEGIN
is the first partition (the models' `begin`)."""

import os
import sys
from pathlib import Path

from dagster import AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition, Definitions
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

project = DbtProject(
    project_dir=Path(os.environ["DBT_PROJECT_DIR"]),
    profiles_dir=Path(os.environ["DBT_PROJECT_DIR"]),
)


@dbt_assets(
    manifest=project.manifest_path,
    select="config.incremental_strategy:microbatch+",
    partitions_def=DailyPartitionsDefinition(start_date=os.environ["BACKFILL_BEGIN"]),
    backfill_policy=BackfillPolicy.single_run(),
)
def time_partitioned_marts(context: AssetExecutionContext, dbt: DbtCliResource):
    window = context.partition_time_window
    args = ["build", "--event-time-start", f"{window.start:%Y-%m-%d}",
            "--event-time-end", f"{window.end:%Y-%m-%d}"]  # fmt: skip
    yield from dbt.cli(args, context=context).stream()


defs = Definitions(
    assets=[time_partitioned_marts],
    resources={
        "dbt": DbtCliResource(
            project_dir=project, dbt_executable=str(Path(sys.executable).with_name("dbt"))
        )
    },
)
