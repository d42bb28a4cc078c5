"""`elt backfill` on a year of generated purchases with three days made to fail: each failed
day is reported with its error and an event, `--retry` rebuilds those days and only those, and
the marts end identical to a rebuild of the whole history."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client

from tests.conftest import REPO, scalar, wait_until

DAYS = 365
BAD_DAYS = (40, 200, 300)  # day offsets whose purchases name a user id that is not a number
PER_DAY = 6
MICROBATCH = (
    "{{{{ config(materialized='incremental', incremental_strategy='microbatch', "
    "event_time='{event_time}', batch_size='day', begin='{begin}', lookback=2) }}}}\n"
)
# the marts' checksum: every row, in a stable order
CHECKSUM = "select md5(string_agg(t::varchar, '|' order by t::varchar)) from analytics.{} t"


def microbatch_project(path: Path, begin: str) -> Path:
    """The shipped project with its time-based marts made dbt microbatch models by day."""
    project = path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    for model, event_time in (
        ("fct_purchases", "purchased_at"),
        ("daily_revenue", "purchase_date"),
    ):
        sql = project / "models" / "marts" / f"{model}.sql"
        config = MICROBATCH.format(event_time=event_time, begin=begin)
        sql.write_text(config + sql.read_text())
    staging = project / "models" / "staging" / "_staging.yml"
    staging.write_text(
        staging.read_text().replace(
            "  - name: stg_purchases\n",
            "  - name: stg_purchases\n    config:\n      event_time: purchased_at\n",
        )
    )
    return project


def generate_purchases(warehouse: Path, first: datetime) -> None:
    """A year of purchases, PER_DAY a day, by the warehouse's users; on BAD_DAYS one purchase
    names the user 'oops' (the raw column is text, as a schemaless source would load it)."""
    bad = ", ".join(str(d) for d in BAD_DAYS)
    with duckdb.connect(str(warehouse)) as db:
        db.execute("drop table if exists analytics.fct_purchases")
        db.execute("drop table if exists analytics.daily_revenue")
        db.execute(f"""
            create or replace table raw.purchases as
            with users as (select id, row_number() over (order by id) - 1 as n from raw.users),
            days as (select d.i, k.j from range({DAYS}) d(i), range({PER_DAY}) k(j))
            select (i * {PER_DAY} + j + 1)::bigint as id,
                   case when i in ({bad}) and j = 0 then 'oops' else u.id::varchar end as user_id,
                   ((i + j) % 100 + 1)::bigint as product_id,
                   timestamp '{first:%Y-%m-%d}' + to_days(i) + to_hours(j) as added_to_cart_at,
                   timestamp '{first:%Y-%m-%d}' + to_days(i) + to_hours(j) + to_minutes(5)
                       as purchased_at,
                   case when j = 5 then timestamp '{first:%Y-%m-%d}' + to_days(i + 1) end
                       as returned_at,
                   timestamp '{first:%Y-%m-%d}' + to_days(i) as created_at,
                   timestamp '{first:%Y-%m-%d}' + to_days(i) as updated_at,
                   now() as _airbyte_extracted_at, '{{}}'::json as _airbyte_meta,
                   uuid()::varchar as _airbyte_raw_id
            from days join users u on u.n = (days.i * 7 + days.j) % (select count(*) from users)
        """)  # fmt: skip


def failed_day_events(target: str) -> list[dict]:
    body = {"filter": {"event": {"name": ["elt.backfill.day.failed"]}}, "limit": 50}
    with get_client(sync_client=True) as client:
        events = client.request("POST", "/events/filter", json=body).json()["events"]
    return [e for e in events if e["resource"]["prefect.resource.id"].startswith(target)]


@pytest.mark.slow
def test_a_year_backfilled_three_days_failed_then_retried_alone(warehouse, tmp_path, cli):
    first = (datetime.now(UTC) - timedelta(days=DAYS)).replace(tzinfo=None)
    last = first + timedelta(days=DAYS - 1)
    project = microbatch_project(tmp_path, f"{first:%Y-%m-%d}")
    generate_purchases(warehouse, first)
    settings = {
        "DBT_PROJECT_DIR": str(project),
        "DUCKDB_PATH": str(warehouse),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
    }
    bad_days = [f"{first + timedelta(days=d):%Y-%m-%d}" for d in BAD_DAYS]

    ran = cli("backfill", "--start", f"{first:%Y-%m-%d}", "--end", f"{last:%Y-%m-%d}",
              cwd=tmp_path, **settings)  # fmt: skip

    assert ran.returncode == 1, ran.stdout
    error = ran.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"error: backfilled {first:%Y-%m-%d}..{last:%Y-%m-%d} (365 days) of daily_revenue,"
        " fct_purchases on target local: 362 of 365 batches built, 3 failed; skipped by dbt"
        " after a failure: daily_revenue: "
    ), error
    for day in bad_days:
        assert f"fct_purchases {day}: Conversion Error: Could not convert string 'oops'" in error
    assert error.endswith("`elt backfill --retry` rebuilds only what failed"), error
    built_days = "select count(distinct cast(purchased_at as date)) from analytics.fct_purchases"
    assert scalar(warehouse, built_days) == DAYS - 3  # every other day is in the mart
    wait_until(lambda: len(failed_day_events("elt.backfill.local.fct_purchases")) == 3,
               "an event per failed day")  # fmt: skip
    days_of_events = {e["payload"]["day"] for e in failed_day_events("elt.backfill.local")}
    assert days_of_events == set(bad_days)

    with duckdb.connect(str(warehouse)) as db:  # the source fixed
        db.execute("update raw.purchases set user_id = '1' where user_id = 'oops'")
    retried = cli("backfill", "--retry", cwd=tmp_path, **settings)

    assert retried.returncode == 0, retried.stderr
    assert "retried" in retried.stdout and "365 days" in retried.stdout, retried.stdout
    rows = table_rows(latest_backfill_artifact())
    rebuilt = [r["day"] for r in rows if r["fct_purchases status"] == "success"]
    assert rebuilt == bad_days  # the retry rebuilt those three days, and only those
    assert {r["daily_revenue status"] for r in rows} == {"success"}  # skipped before: all built
    assert sum(r["fct_purchases rows"] for r in rows) == DAYS * PER_DAY

    checksums = [scalar(warehouse, CHECKSUM.format(m)) for m in ("fct_purchases", "daily_revenue")]
    rebuilt_whole = tmp_path / "whole" / "warehouse.duckdb"
    rebuilt_whole.parent.mkdir()
    shutil.copyfile(warehouse, rebuilt_whole)
    shipped = {  # the shipped project: the same marts as tables, rebuilt whole
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
        "DUCKDB_PATH": str(rebuilt_whole),
        "DBT_TARGET_PATH": str(tmp_path / "whole-target"),
    }
    whole = cli("transform", "-s", "fct_purchases+", cwd=tmp_path, **shipped)
    assert whole.returncode == 0, whole.stderr
    assert checksums == [
        scalar(rebuilt_whole, CHECKSUM.format(m)) for m in ("fct_purchases", "daily_revenue")
    ]  # identical to the marts rebuilt from the whole history


def latest_backfill_artifact() -> dict:
    body = {"artifacts": {"key": {"any_": ["backfill"]}}, "sort": "CREATED_DESC", "limit": 1}
    with get_client(sync_client=True) as client:
        return client.request("POST", "/artifacts/filter", json=body).json()[0]


def table_rows(artifact: dict) -> list[dict]:
    import json

    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data
