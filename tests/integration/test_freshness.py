"""freshness_check on the real warehouse: verdicts, the failure message, and Prefect events."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb
import pytest

from orchestration.errors import StepFailed
from orchestration.flows.freshness import BREACHED_EVENT, OK_EVENT, freshness_check
from tests.conftest import REPO, read_events, run_elt


def age_table(warehouse, table: str, hours: int) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            f"update raw.{table} set _airbyte_extracted_at = "
            f"_airbyte_extracted_at - interval {hours} hour"
        )


def events_named(name: str, since: str, resource_suffix: str, timeout: float = 30.0) -> list:
    """Events persisted by the Prefect server (they arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        events = read_events(name, since)
        found = [
            e for e in events if e["resource"]["prefect.resource.id"].endswith(resource_suffix)
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def test_fresh_warehouse_passes_and_emits_ok_events(warehouse):
    since = utc_now()
    results = freshness_check()
    assert {r.table: r.passed for r in results} == {
        "users": True,
        "products": True,
        "purchases": True,
    }
    assert all(0 <= r.age_hours < 1 for r in results)
    assert events_named(OK_EVENT, since, ".users")


def test_stale_table_fails_names_it_and_emits_a_breach_event(warehouse):
    age_table(warehouse, "users", hours=48)
    since = utc_now()

    state = freshness_check(return_state=True)

    assert state.is_failed()
    with pytest.raises(StepFailed) as failure:
        state.result()
    message = str(failure.value)
    assert "users (48." in message  # the stale table and its age
    assert "products" not in message and "purchases" not in message
    (event,) = events_named(BREACHED_EVENT, since, ".users")
    assert event["payload"]["table"] == "users" and event["payload"]["status"] == "FAIL"
    assert not events_named(BREACHED_EVENT, since, ".products", timeout=1)


def test_threshold_override_and_missing_table(warehouse, monkeypatch):
    age_table(warehouse, "products", hours=3)
    monkeypatch.setenv("AIRBYTE_STREAMS", "users,products,reviews")
    with pytest.raises(
        StepFailed, match=r"2 table\(s\): products \(3\.\d+h old\), reviews \(no rows\)"
    ):
        freshness_check(threshold_hours=2)


def test_cli_freshness_prints_one_line_on_breach(warehouse, prefect_api):
    age_table(warehouse, "purchases", hours=30)
    proc = run_elt(
        "freshness",
        cwd=warehouse.parent,
        PREFECT_API_URL=prefect_api,
        DUCKDB_PATH=str(warehouse),
        DBT_PROJECT_DIR=str(REPO / "dbt_project"),
    )
    assert proc.returncode == 1
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "purchases (30." in error_lines[0] and "25h" in error_lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
