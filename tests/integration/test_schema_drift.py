"""Schema drift in the pipeline: a column a model uses disappears from a raw table; the run
builds everything else, holds back what reads that table, ends Failed naming the change, the
models held back and the fix, and emits an event; an added column is information only;
`elt drift accept` makes the new schema the accepted one."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from orchestration.flows.schema_drift import drift_check
from tests.conftest import REPO, wait_until
from tests.fakes.airbyte_server import FakeAirbyte

CONNECTION = "2c9d7e51-4b3a-4f60-9d8e-1a2b3c4d5e6f"
MODELS = {"stg_users", "stg_products", "stg_purchases", "dim_users", "dim_products",
          "fct_purchases", "daily_revenue"}  # fmt: skip


def run_pipeline(warehouse: Path, target: Path, monkeypatch, during_sync=None):
    """A `full_pipeline` run whose (fake) Airbyte sync runs `during_sync(db)` on the warehouse
    when its job starts: what the destination writes."""
    from orchestration.flows.full_pipeline import full_pipeline

    settings = {
        "AIRBYTE_CONNECTION_ID": CONNECTION,
        "AIRBYTE_POLL_INTERVAL_SECONDS": "0.05",
        "DUCKDB_PATH": str(warehouse),
        "DBT_TARGET_PATH": str(target),  # dbt's own: this test's run results
    }
    with FakeAirbyte() as fake:
        fake.add_connection(CONNECTION)
        if during_sync is not None:
            fake.when("POST /jobs", lambda: during_sync(warehouse))
        monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return full_pipeline(return_state=True)


def built_models(target: Path) -> dict[str, str]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[-1]: r["status"]
        for r in results
        if r["unique_id"].startswith("model.")
    }


def drift_events(table: str, column: str) -> list[dict]:
    resource = {"id": [f"elt.schema.local.{table}"]}
    body = {"filter": {"event": {"name": ["elt.schema.drift"]}, "any_resource": resource}}
    with get_client(sync_client=True) as client:
        events = client.request("POST", "/events/filter", json=body).json()["events"]
    return [e for e in events if e["payload"]["column"] == column]


def test_breaking_drift_holds_back_only_what_it_reaches(warehouse, tmp_path, monkeypatch, cli):
    target = tmp_path / "dbt-target"
    first = run_pipeline(warehouse, target, monkeypatch)  # the accepted schema: today's
    assert first.is_completed(), first.message
    assert first.result().drift.changes == []

    with duckdb.connect(str(warehouse)) as db:
        db.execute("alter table raw.users drop column email")  # stg_users selects it
        db.execute("alter table raw.purchases add column coupon varchar")  # nobody reads it
    second = run_pipeline(warehouse, target, monkeypatch)

    assert second.is_failed()
    message = second.message or ""
    assert "airbyte.users: column dropped email, used by stg_users" in message, message
    assert "airbyte.purchases: column added coupon" in message, message
    assert "held back: dim_users, stg_users" in message, message
    assert "`elt drift accept airbyte.users`" in message, message
    built = built_models(target)
    # what the changed tables reach, but what the breaking change reaches (products: reused)
    assert set(built) == {"stg_purchases", "fct_purchases", "daily_revenue"}
    assert set(built.values()) == {"success"}
    wait_until(lambda: drift_events("airbyte.users", "email"), "the drift event of users.email")
    (event,) = drift_events("airbyte.users", "email")
    assert event["payload"]["models_held_back"] == ["dim_users", "stg_users"]
    assert (event["payload"]["change"], event["payload"]["column"]) == ("column dropped", "email")

    monkeypatch.chdir(tmp_path)
    # `elt drift` agrees with `elt run`: exit 1, its run Failed, one error line with the fix.
    checked = cli("drift", cwd=tmp_path,
                  DUCKDB_PATH=str(warehouse), DBT_TARGET_PATH=str(target),
                  DBT_PROJECT_DIR=str(REPO / "dbt_project"))  # fmt: skip
    assert checked.returncode == 1, checked.stderr
    errors = [x for x in checked.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, checked.stderr
    assert "airbyte.users: column dropped email, used by stg_users" in errors[0]
    assert "`elt drift accept airbyte.users`" in errors[0]
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["schema-drift"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    assert run.state_type == StateType.FAILED
    accepted = cli("drift", "accept", "airbyte.users", cwd=tmp_path,
                   DUCKDB_PATH=str(warehouse), DBT_TARGET_PATH=str(target),
                   DBT_PROJECT_DIR=str(REPO / "dbt_project"))  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("accepted airbyte.users: ")
    assert drift_check().changes == []  # the new schema is the accepted one, the added column too


def sql(*statements: str):
    def apply(warehouse: Path) -> None:
        with duckdb.connect(str(warehouse)) as db:
            for statement in statements:
                db.execute(statement)

    return apply


NULLED = (
    '{"changes":[{"field":"email","change":"NULLED","reason":"DESTINATION_SERIALIZATION_ERROR"}]}'
)
USERS = {"stg_users", "dim_users"}  # what reads the raw users table, as dbt's graph says
PRODUCTS = {"stg_products", "dim_products", "fct_purchases", "daily_revenue", "dim_users"}
PURCHASES = {"stg_purchases", "fct_purchases", "daily_revenue", "dim_users"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("during_sync", "said", "held"),
    [
        pytest.param(
            sql("alter table raw.products rename column price to unit_price"),
            ["airbyte.products: column dropped price, used by stg_products",
             "airbyte.products: column added unit_price"],
            PRODUCTS, id="renamed column",
        ),
        pytest.param(
            sql("alter table raw.purchases alter column user_id type varchar"),
            ["airbyte.purchases: type changed user_id (BIGINT -> VARCHAR), used by stg_purchases"],
            PURCHASES, id="number to text",
        ),
        pytest.param(
            sql("drop table raw.users"),
            ["airbyte.users: table missing, used by stg_users"],
            USERS, id="missing stream",
        ),
        pytest.param(
            sql(
                "update raw.users set _airbyte_extracted_at = now() at time zone 'UTC'",
                f"update raw.users set email = null, _airbyte_meta = '{NULLED}' where id % 10 < 3",
            ),
            ["airbyte.users: 30% of email values nulled or truncated by Airbyte"
             " (_airbyte_meta.changes; limit 5%), used by stg_users"],
            USERS, id="30% nulled by Airbyte",
        ),
    ],
)  # fmt: skip
def test_each_breaking_change_holds_back_its_descendants(
    during_sync, said, held, warehouse, tmp_path, monkeypatch
):
    target = tmp_path / "dbt-target"
    for name, value in {"DUCKDB_PATH": str(warehouse), "DBT_TARGET_PATH": str(target)}.items():
        monkeypatch.setenv(name, value)
    assert drift_check().changes == []  # today's schema becomes the accepted one

    run = run_pipeline(warehouse, target, monkeypatch, during_sync)

    assert run.is_failed()
    message = run.message or ""
    for line in said:
        assert line in message, message
    assert f"held back: {', '.join(sorted(held))}" in message, message
    built = built_models(target)
    assert set(built) == MODELS - held, message  # every other model was built
    assert set(built.values()) == {"success"}
    if "table missing" in said[0]:  # no schema to accept: the fix is to sync it back
        assert "sync again to recreate airbyte.users (`elt sync`)" in message, message
        assert "elt drift accept" not in message, message


@pytest.mark.slow
def test_with_the_check_off_the_build_meets_the_change_itself(warehouse, tmp_path, monkeypatch):
    """DBT_SCHEMA_DRIFT=false: no check, nothing held back; dbt's own error is the failure."""
    target = tmp_path / "dbt-target"
    monkeypatch.setenv("DBT_SCHEMA_DRIFT", "false")
    drop_email = sql("alter table raw.users drop column email")

    run = run_pipeline(warehouse, target, monkeypatch, drop_email)

    assert run.is_failed()
    message = run.message or ""
    assert "schema drift" not in message and "stg_users" in message, message
    assert built_models(target)["stg_users"] == "error"  # the build ran it, and dbt failed it
