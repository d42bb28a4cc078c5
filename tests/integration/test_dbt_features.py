"""dbt_transform beyond a plain build: retry from failure, cached deps, live progress, events,
any project through the CLI."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.generate_dbt_project import generate
from orchestration.errors import StepFailed
from orchestration.flows.dbt_transform import dbt_transform
from orchestration.runtime.elt_events import EltEvent
from tests.conftest import (
    dbt_target,
    flow_run_artifacts,
    read_events,
    run_elt,
    run_result_statuses,
    scalar,
)
from tests.integration.test_dbt_transform import copy_project

# slow: builds the dbt project several times, from scratch
pytestmark = pytest.mark.slow

BROKEN = "select purchase_id, no_such_column as amount from {{ ref('fct_purchases') }}\n"
FIXED = "select purchase_id, amount from {{ ref('fct_purchases') }}\n"


def add_broken_chain(project: Path) -> Path:
    """A broken model with a downstream model and tests on both."""
    marts = project / "models" / "marts"
    (marts / "broken_totals.sql").write_text(BROKEN)
    (marts / "after_broken.sql").write_text(
        "select count(*) as purchases from {{ ref('broken_totals') }}\n"
    )
    (marts / "_broken.yml").write_text(
        "version: 2\nmodels:\n"
        "  - name: broken_totals\n    columns:\n      - name: purchase_id\n"
        "        data_tests: [not_null]\n"
        "  - name: after_broken\n    columns:\n      - name: purchases\n"
        "        data_tests: [not_null]\n"
    )
    return marts / "broken_totals.sql"


RETRIED = {
    "broken_totals",
    "after_broken",
    "not_null_broken_totals_purchase_id",
    "not_null_after_broken_purchases",
}


def test_retry_rebuilds_only_the_fixed_model_and_its_downstream(warehouse, elt_env, monkeypatch):
    project = copy_project(elt_env)
    broken = add_broken_chain(project)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))

    with pytest.raises(StepFailed, match="broken_totals"):
        dbt_transform()
    broken.write_text(FIXED)
    result = dbt_transform(retry=True)

    assert result.command == "retry"
    assert {n.name for n in result.nodes} == RETRIED
    assert not result.failed_nodes
    assert scalar(warehouse, "select purchases from analytics.after_broken") > 0


def test_prefect_flow_retries_run_dbt_retry(warehouse, elt_env, monkeypatch):
    """The first attempt fails; the model is fixed before Prefect retries the flow run."""
    project = copy_project(elt_env)
    broken = add_broken_chain(project)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    run_results = dbt_target(project) / "run_results.json"

    def fix_after_first_failure() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if "error" in run_result_statuses(run_results):
                broken.write_text(FIXED)
                return
            time.sleep(0.2)

    fixer = threading.Thread(target=fix_after_first_failure, daemon=True)
    fixer.start()
    state = dbt_transform.with_options(retries=1, retry_delay_seconds=2)(return_state=True)
    fixer.join(timeout=5)

    assert state.is_completed(), state.message
    result = state.result()
    assert result.command == "retry"
    assert {n.name for n in result.nodes} == RETRIED


def test_failed_node_emits_an_event_and_progress_reaches_100(warehouse, elt_env, monkeypatch):
    project = copy_project(elt_env)
    add_broken_chain(project)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    # to the microsecond: the test before may have failed the same model a moment ago
    since = datetime.now(UTC).isoformat()

    state = dbt_transform(return_state=True)

    assert state.is_failed()
    deadline = time.monotonic() + 30
    events: list = []
    while not events and time.monotonic() < deadline:
        events = [
            e
            for e in read_events(EltEvent.DBT_NODE_FAILED, since)
            if e["resource"]["prefect.resource.id"].endswith("model.elt.broken_totals")
        ]
        time.sleep(0.5)
    (event,) = events
    assert event["payload"]["status"] == "error" and "no_such_column" in event["payload"]["message"]
    (progress,) = flow_run_artifacts(state.state_details.flow_run_id, "dbt-build-progress")
    assert float(progress["data"]) == 100.0


def write_local_package(root: Path) -> Path:
    package = root / "shared_macros"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text(
        "name: shared_macros\nversion: '1.0.0'\nconfig-version: 2\n"
    )
    (package / "macros" / "cents.sql").write_text(
        "{% macro to_cents(column) %}cast({{ column }} * 100 as bigint){% endmacro %}\n"
    )
    return package


def test_deps_run_only_when_packages_change(warehouse, elt_env, monkeypatch):
    project = copy_project(elt_env)
    package = write_local_package(elt_env)
    (project / "packages.yml").write_text(f"packages:\n  - local: {package}\n")
    (project / "models" / "marts" / "revenue_cents.sql").write_text(
        "select purchase_date, {{ shared_macros.to_cents('gross_revenue') }} as gross_cents "
        "from {{ ref('daily_revenue') }}\n"
    )
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    installed = project / "dbt_packages" / "shared_macros"

    dbt_transform(select=["revenue_cents"])
    assert installed.exists()
    first_install = installed.lstat().st_mtime_ns

    dbt_transform(select=["revenue_cents"])  # unchanged packages: no dbt deps
    assert installed.lstat().st_mtime_ns == first_install

    time.sleep(0.01)
    (project / "packages.yml").write_text(f"# pinned\npackages:\n  - local: {package}\n")
    dbt_transform(select=["revenue_cents"])  # changed: dbt deps runs again
    assert installed.lstat().st_mtime_ns != first_install
    assert scalar(warehouse, "select count(*) from analytics.revenue_cents") > 0


def test_cli_runs_any_project_with_its_own_profiles(tmp_path, prefect_api):
    project = generate(tmp_path / "other_project", models=5)
    proc = run_elt(
        "transform",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--threads",
        "2",
        "--vars",
        '{"unused": 1}',
        "--full-refresh",
        cwd=tmp_path,
        PREFECT_API_URL=prefect_api,
        BENCH_DUCKDB_PATH=str(tmp_path / "other.duckdb"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dbt build OK: 5 models, 5 tests" in proc.stdout
    run_results = json.loads((dbt_target(project) / "run_results.json").read_text())
    assert run_results["args"]["threads"] == 2 and run_results["args"]["full_refresh"] is True
