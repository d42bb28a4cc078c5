"""freshness_check on the real warehouse: verdicts, the failure message, and Prefect events."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from orchestration.errors import StepFailed
from orchestration.flows.freshness_check import freshness_check
from orchestration.runtime.elt_events import EltEvent
from tests.conftest import REPO, read_events, run_elt, wait_until


def age_table(warehouse, table: str, hours: int) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            f"update raw.{table} set _airbyte_extracted_at = "
            f"_airbyte_extracted_at - interval {hours} hour"
        )


def events_named(name: str, since: str, resource_suffix: str, timeout: float = 30.0) -> list:
    """Events persisted by the Prefect server (they arrive asynchronously)."""

    def found() -> list:
        events = read_events(name, since)
        return [e for e in events if e["resource"]["prefect.resource.id"].endswith(resource_suffix)]

    return wait_until(found, f"a {name} event of {resource_suffix}", timeout=timeout)


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def test_fresh_warehouse_passes_and_emits_ok_events(warehouse):
    since = utc_now()
    results = freshness_check()
    by_name = {r.name: r for r in results}
    assert {n: r.status for n, r in by_name.items()} == {
        "users": "pass",
        "products": "pass",
        "purchases": "pass",
        "daily_revenue": "pass",  # built by the session's pipeline run, before any deadline
    }
    # Each table's own SLA, as the dbt project declares it.
    assert by_name["users"].sla == "error 25 hours"  # the default: FRESHNESS_THRESHOLD_HOURS
    assert by_name["purchases"].sla == "warn 13 hours, error 25 hours"
    assert by_name["products"].sla == "warn 2 days, error 7 days"
    assert by_name["daily_revenue"].sla == "built by 07:00 UTC daily"
    assert all(0 <= r.age_hours < 1 for r in results)
    (event,) = events_named(EltEvent.FRESHNESS_OK, since, ".source.users")
    assert event["resource"]["prefect.resource.id"] == "elt.freshness.local.source.users"
    assert event["payload"]["target"] == "local" and event["payload"]["severity"] == "ok"


def test_stale_table_fails_names_it_and_emits_a_breach_event(warehouse):
    age_table(warehouse, "users", hours=48)
    since = utc_now()

    state = freshness_check(return_state=True)

    assert state.is_failed()
    with pytest.raises(StepFailed) as failure:
        state.result()
    message = str(failure.value)
    assert message.startswith("freshness SLA breached by 1: users (48.")
    assert "SLA error 25 hours" in message
    assert "products" not in message and "purchases" not in message
    (event,) = events_named(EltEvent.FRESHNESS_BREACHED, since, ".users")
    payload = event["payload"]
    assert (payload["table"], payload["status"], payload["severity"]) == (
        "users",
        "error",
        "breached",
    )
    assert 48 <= payload["age_hours"] < 49 and payload["sla"] == "error 25 hours"
    # products' one event of this run is the OK one (one event per table): no breach for it
    assert events_named(EltEvent.FRESHNESS_OK, since, ".products")
    assert not [
        e
        for e in read_events(EltEvent.FRESHNESS_BREACHED, since)
        if e["resource"]["prefect.resource.id"].endswith(".products")
    ]


def test_a_warning_is_published_and_emitted_but_does_not_fail(warehouse):
    age_table(warehouse, "purchases", hours=14)  # past warn_after (13 h), within error_after
    since = utc_now()
    results = freshness_check()
    assert {r.name: r.status for r in results}["purchases"] == "warn"
    assert events_named(EltEvent.FRESHNESS_WARN, since, ".purchases")


def test_threshold_override_and_missing_table(warehouse):
    age_table(warehouse, "users", hours=3)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("drop table raw.products")
    with pytest.raises(StepFailed) as failure:
        freshness_check(threshold_hours=2)
    message = str(failure.value)
    assert "users (3." in message and "error 2 hours" in message
    assert "products (" in message  # dbt could not read it: named, with dbt's reason


def test_a_mart_past_its_deadline_fails_by_name(warehouse):
    """daily_revenue was last built before the previous 07:00 UTC: it missed its deadline."""
    from prefect.variables import Variable

    from orchestration.dbt.builds import variable_name

    name = variable_name("local")
    saved = Variable.get(name)
    Variable.set(name, {**saved, "daily_revenue": "2020-01-01T06:00:00+00:00"}, overwrite=True)
    try:
        with pytest.raises(StepFailed) as failure:
            freshness_check()
    finally:
        Variable.set(name, saved, overwrite=True)
    assert str(failure.value) == (
        "freshness SLA breached by 1: daily_revenue (last built 2020-01-01 06:00 UTC, not since "
        + failure.value.results[-1].message.split("not since ")[1]
        + ")"
    )


def test_cli_freshness_prints_every_verdict_then_one_line_on_breach(warehouse, prefect_api):
    age_table(warehouse, "users", hours=30)
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
    assert "users (30." in error_lines[0] and "error 25 hours" in error_lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    for name in ("users", "products", "purchases", "daily_revenue"):
        assert name in proc.stdout  # the table of verdicts
