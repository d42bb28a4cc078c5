"""`full_pipeline`: airbyte_sync -> dbt_transform -> freshness_check, as subflows."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from orchestration.checks.drift import DriftReport
from orchestration.config import config_scope, load_config
from orchestration.errors import FreshnessBreached
from orchestration.flows.airbyte_sync import airbyte_sync
from orchestration.flows.dbt_transform import dbt_transform
from orchestration.flows.freshness_check import freshness_check
from orchestration.flows.schema_drift import drift_check
from orchestration.lineage import record as lineage
from orchestration.lineage.graph import Graph
from orchestration.lineage.graph import markdown as lineage_markdown
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_markdown
from orchestration.runtime.logs import get_logger
from orchestration.tasks.dbt_commands import check_dbt_selection
from orchestration.tasks.pipeline_steps import PipelineSummary, check_typed_raw_tables


@flow(name="full-pipeline", log_prints=True)
@interrupts.cancel_on_interrupt
def full_pipeline(
    faker_count: int | None = None,
    faker_seed: int | None = None,
    select: list[str] | None = None,
    freshness_threshold_hours: float | None = None,
    s3_keys: list[str] | None = None,
    block_name: str | None = None,
    build_all: bool = False,
) -> PipelineSummary:
    """Extract/load, transform, then check the freshness SLA; stops at the first failure.

    `s3_keys` is set when the S3 sensor started this run: the new landing files, logged.
    `block_name` takes the configuration from the blocks saved under that name.
    The build is change-driven: only what the sync's new rows (or changed code) reach since the
    target's last complete build is built, the rest reused; `build_all` builds everything.
    """
    if s3_keys:
        get_logger().info(
            "Started by the S3 sensor for %d new file(s): %s", len(s3_keys), s3_keys[:20]
        )
    summary = PipelineSummary()
    milestones.expect(milestones.SYNCED, milestones.REBUILT, milestones.CHECKED)
    with (
        lineage.collecting() as touched,  # this run's events, whatever else the process records
        config_scope(load_config(block_name)),  # the blocks are loaded once per run
    ):
        if select:  # a typo fails in seconds, not after the whole sync
            interrupts.unless_cancelled(check_dbt_selection(select, block_name))
        sync_started = datetime.now(UTC)  # the rows this sync loads: Airbyte's nulled values
        summary.syncs = airbyte_sync(
            faker_count=faker_count, faker_seed=faker_seed, block_name=block_name
        )
        interrupts.unless_cancelled(check_typed_raw_tables(block_name))
        config = load_config(block_name)
        if config.dbt.schema_drift:
            summary.drift = drift_check(
                block_name=block_name, since=sync_started, fail_on_breaking=False
            )
        drift = summary.drift or DriftReport(config.dbt.target)
        exclude = [*config.dbt.exclude, *drift.exclude] or None
        summary.build = dbt_transform(
            select=select,
            exclude=exclude,
            block_name=block_name,
            changed_only=not build_all,
            keep_state=True,
            reshaped=sorted({change.table for change in drift.changes}) or None,
        )
        try:
            summary.freshness = freshness_check(
                threshold_hours=freshness_threshold_hours, block_name=block_name
            )
        except FreshnessBreached as breach:
            if not drift.failing:
                raise
            raise drift.failure(also=str(breach)) from breach  # a missing table is both
        if drift.failing:  # everything else was built and checked: now say what was not
            raise drift.failure()
    if touched:
        graph = Graph.from_events(touched)
        publish_markdown(
            "lineage-graph",
            lineage_markdown(graph, touched),
            f"Lineage of this run: {len(graph.nodes)} datasets, {len(graph.edges)} edges",
        )
    publish_markdown(
        "full-pipeline-summary",
        "\n".join(f"- {line}" for line in summary.lines()),
        "What the pipeline did",
    )
    return summary


if __name__ == "__main__":
    from prefect.logging import get_logger as prefect_logger

    from orchestration.server.local_server import run_as_script

    for line in run_as_script(full_pipeline).lines():  # what `elt run` prints
        prefect_logger("full_pipeline").info(line)
