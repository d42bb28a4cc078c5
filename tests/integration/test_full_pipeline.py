"""The whole pipeline on the embedded defaults: real source-faker -> DuckDB -> dbt -> freshness."""

from __future__ import annotations

import pytest

from tests.conftest import FAKER_COUNT, query, scalar

pytestmark = pytest.mark.slow  # the whole pipeline on the embedded Airbyte connector


def test_full_pipeline_completes_and_marts_hold_the_synced_rows(pipeline_run):
    state, warehouse = pipeline_run
    assert state.is_completed(), state.message
    summary = state.result()

    (sync,) = summary.syncs
    assert sync.streams == {"users": FAKER_COUNT, "products": FAKER_COUNT, "purchases": FAKER_COUNT}
    assert sync.rows_synced == 3 * FAKER_COUNT
    assert set(sync.stream_bytes) == set(sync.streams) and all(sync.stream_bytes.values())
    assert sum(sync.stream_bytes.values()) == sync.bytes_synced
    assert [row["stream"] for row in sync.table_rows()] == ["*", *sync.streams]

    # Raw tables are in Airbyte's destination layout.
    raw_columns = {r[0] for r in query(warehouse, "describe raw.purchases")}
    assert {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "id"} <= raw_columns

    # Marts hold what the raw tables imply.
    assert scalar(warehouse, "select count(*) from analytics.dim_users") == FAKER_COUNT
    assert scalar(warehouse, "select count(*) from analytics.dim_products") == scalar(
        warehouse, "select count(distinct id) from raw.products"
    )
    completed = scalar(
        warehouse, "select count(distinct id) from raw.purchases where purchased_at is not null"
    )
    assert completed > 0
    assert scalar(warehouse, "select count(*) from analytics.fct_purchases") == completed
    assert scalar(warehouse, "select sum(purchases) from analytics.daily_revenue") == completed
    assert scalar(warehouse, "select count(*) from analytics.daily_revenue") == scalar(
        warehouse,
        "select count(distinct cast(purchased_at as date)) from raw.purchases "
        "where purchased_at is not null",
    )

    build = summary.build
    assert build.count("model", ok_only=True) == 7
    assert build.count("test", ok_only=True) >= 20
    assert not build.failed_nodes
    assert summary.freshness and all(r.passed for r in summary.freshness)
    assert {(r.kind, r.name) for r in summary.freshness} == {
        ("source", "users"),
        ("source", "products"),
        ("source", "purchases"),
        ("mart", "daily_revenue"),
    }


def test_a_pipeline_on_blocks_loads_them_once(warehouse, fake, monkeypatch):
    """Sync, transform and freshness share the configuration the pipeline loaded: the blocks
    are read from the Prefect server once per run, not once per subflow. (The sync goes to the
    fake Airbyte server; dbt builds on the warehouse's raw tables.)"""
    from orchestration.blocks.register import register_blocks, validated_blocks
    from orchestration.config import load as config_load
    from orchestration.flows.full_pipeline import full_pipeline

    fake.add_connection("conn-once")
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_CONNECTION_ID", "conn-once")
    monkeypatch.setenv("AIRBYTE_POLL_INTERVAL_SECONDS", "0.05")
    register_blocks(validated_blocks(), "once-ci")
    loads: list[str | None] = []
    real_load = config_load._load

    def counted_load(block_name):
        loads.append(block_name)
        return real_load(block_name)

    monkeypatch.setattr(config_load, "_load", counted_load)
    summary = full_pipeline(block_name="once-ci")

    assert loads == ["once-ci"]
    assert [s.connection_id for s in summary.syncs] == ["conn-once"]
    assert summary.syncs[0].succeeded and not summary.build.failed_nodes
    assert all(r.passed for r in summary.freshness)
