"""dbt_transform against the real DuckDB warehouse: artifacts on success, named nodes on failure."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.errors import StepFailed
from orchestration.flows.dbt_transform import dbt_transform
from orchestration.flows.example_flow import example_flow
from tests.conftest import REPO, flow_run_artifacts, query, run_elt, scalar


def copy_project(dest: Path) -> Path:
    project = dest / "dbt_project"
    shutil.copytree(
        REPO / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    return project


def test_broken_model_fails_the_flow_and_names_the_model(warehouse, elt_env, monkeypatch):
    project = copy_project(elt_env)
    (project / "models" / "marts" / "broken_revenue.sql").write_text(
        "select purchase_id, no_such_column from {{ ref('fct_purchases') }}\n"
    )
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))

    state = dbt_transform(return_state=True)

    assert state.is_failed()
    with pytest.raises(StepFailed) as failure:
        state.result()
    message = str(failure.value)
    assert "broken_revenue" in message
    assert "no_such_column" in message  # dbt's own error text is carried through
    assert "fct_purchases" not in message.split("broken_revenue")[0]  # only failed nodes named
    # The rest of the project still built.
    assert scalar(warehouse, "select count(*) from analytics.daily_revenue") > 0


def test_select_builds_only_the_selection_and_publishes_a_node_table(warehouse):
    state = dbt_transform(select=["stg_products"], return_state=True)
    result = state.result()
    names = {n.name for n in result.nodes}
    assert names == {
        "stg_products",
        "not_null_stg_products_product_id",
        "unique_stg_products_product_id",
    }
    assert all(n.status in ("success", "pass") for n in result.nodes)

    (artifact,) = flow_run_artifacts(state.state_details.flow_run_id, "dbt-build-results")
    table = json.loads(artifact["data"])
    assert {row["node"] for row in table} == names
    assert {"status", "duration_s", "type", "message"} <= set(table[0])
    assert "rows_affected" not in table[0]  # DuckDB reports none: no column of blanks


def test_example_flow_runs_then_tests(warehouse):
    run, test = example_flow()
    assert run.command == "run" and run.count("model") == 7
    assert test.command == "test" and test.count("test") >= 20 and not test.failed_nodes


def test_marts_bucket_by_the_utc_date_whatever_the_machines_time_zone(
    warehouse, elt_env, prefect_api
):
    """PyAirbyte writes UTC without a zone; read in Los Angeles time, a purchase at 20:30 UTC
    would move to the next day. The profile pins DuckDB's TimeZone, staging converts to UTC."""
    with duckdb.connect(str(warehouse)) as db:
        db.execute(
            "update raw.purchases set purchased_at = timestamp '2024-03-09 20:30:00', "
            "added_to_cart_at = timestamp '2024-03-09 20:00:00', returned_at = null"
        )
        db.execute("update raw.purchases set purchased_at = null where id % 2 = 0")
    proc = run_elt(
        "transform",
        "-s",
        "+daily_revenue",
        cwd=elt_env,
        PREFECT_API_URL=prefect_api,
        DUCKDB_PATH=str(warehouse),
        DBT_PROJECT_DIR=str(REPO / "dbt_project"),
        TZ="America/Los_Angeles",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = query(warehouse, "select purchase_date, purchases from analytics.daily_revenue")
    purchased = scalar(
        warehouse, "select count(*) from raw.purchases where purchased_at is not null"
    )
    assert rows == [(date(2024, 3, 9), purchased)]
