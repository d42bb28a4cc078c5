"""dbt_transform against the real DuckDB warehouse: artifacts on success, named nodes on failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestration.errors import StepFailed
from orchestration.flows.dbt_transform import dbt_transform
from orchestration.flows.example_flow import example_flow
from tests.conftest import REPO, flow_run_artifacts, scalar


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
    assert {"status", "duration_s", "rows_affected", "type"} <= set(table[0])


def test_example_flow_runs_then_tests(warehouse):
    run, test = example_flow()
    assert run.command == "run" and run.count("model") == 7
    assert test.command == "test" and test.count("test") >= 20 and not test.failed_nodes
