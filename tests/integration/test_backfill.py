"""`elt backfill` on a year of generated purchases with three days made to fail: each failed
day is reported with its error and an event, `--retry` rebuilds those days and only those, and
the marts end identical to a rebuild of the whole history. Between backfills, the daily run of
time-partitioned marts builds only its lookback."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client

from bench.microbatch_project import MODELS, generate_raw, microbatch_project
from orchestration.flows.backfill import backfill
from orchestration.flows.dbt_transform import dbt_transform
from tests.conftest import (
    REPO,
    Running,
    cli_env,
    query,
    run_elt,
    run_result_statuses,
    scalar,
    wait_until,
)

DAYS = 365
BAD_DAYS = (40, 200, 300)  # day offsets whose purchases name a user id that is not a number
PER_DAY = 6
# the marts' checksum: every row, in a stable order
CHECKSUM = "select md5(string_agg(t::varchar, '|' order by t::varchar)) from analytics.{} t"


def failed_day_events(target: str) -> list[dict]:
    body = {"filter": {"event": {"name": ["elt.backfill.day.failed"]}}, "limit": 50}
    with get_client(sync_client=True) as client:
        events = client.request("POST", "/events/filter", json=body).json()["events"]
    return [e for e in events if e["resource"]["prefect.resource.id"].startswith(target)]


@pytest.mark.slow
def test_a_year_backfilled_three_days_failed_then_retried_alone(tmp_path, cli):
    first = datetime.now(UTC).date() - timedelta(days=DAYS)
    last = first + timedelta(days=DAYS - 1)
    project = microbatch_project(tmp_path, begin=first)
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    generate_raw(warehouse, first, DAYS, PER_DAY, BAD_DAYS)
    settings = {
        "DBT_PROJECT_DIR": str(project),
        "DUCKDB_PATH": str(warehouse),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
    }
    bad_days = [f"{first + timedelta(days=d):%Y-%m-%d}" for d in BAD_DAYS]
    daily = cli("transform", "-s", "staging", "-s", "dim_products", "--exclude", "test_type:data",
                cwd=tmp_path, **settings)  # fmt: skip  # what the daily runs have built
    assert daily.returncode == 0, daily.stderr

    ran = cli("backfill", "--start", f"{first:%Y-%m-%d}", "--end", f"{last:%Y-%m-%d}",
              cwd=tmp_path, **settings)  # fmt: skip

    assert ran.returncode == 1, ran.stdout
    error = ran.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"error: backfilled {first:%Y-%m-%d}..{last:%Y-%m-%d} (365 days) of fct_purchases,"
        " daily_revenue on target local: 362 of 365 batches built, 3 failed; skipped by dbt"
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

    assert_marts_equal_a_full_rebuild(tmp_path, warehouse, cli)


def journal_entries(target: Path) -> list[tuple[str, str]]:
    """The (model, day) batches the backfills' journals recorded built, in order."""
    entries = []
    for path in sorted((target / "backfills" / "local").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # the line a kill cut short
                entry = json.loads(line)
                if "model" in entry:
                    entries.append((entry["model"], entry["day"]))
    return entries


@pytest.mark.slow
def test_a_backfill_killed_three_times_resumes_each_time_and_ends_as_a_full_rebuild(
    tmp_path, prefect_api, cli
):
    """`kill -9` of a quarter's backfill at a random batch, then of each `--retry` of it, three
    kills in all; the last retry finishes. Each retry resumed *that* backfill (not an older one
    that finished) and built only the batches no attempt had built: no batch twice in all."""
    days = 90  # 180 batches, one at a time: kills land anywhere in them
    first = datetime.now(UTC).date() - timedelta(days=days)
    last = first + timedelta(days=days - 1)
    project = microbatch_project(tmp_path, begin=first)
    warehouse = tmp_path / "warehouse.duckdb"
    generate_raw(warehouse, first, days, PER_DAY)
    target = tmp_path / "target"
    env = cli_env(DBT_PROJECT_DIR=str(project), DUCKDB_PATH=str(warehouse),
                  DBT_TARGET_PATH=str(target), PREFECT_API_URL=prefect_api)  # fmt: skip
    daily = run_elt("transform", "-s", "staging", "-s", "dim_products", "--exclude",
                    "test_type:data", cwd=tmp_path, **env)  # fmt: skip  # what daily runs built
    assert daily.returncode == 0, daily.stderr
    older = run_elt("backfill", "--start", f"{last - timedelta(days=4):%Y-%m-%d}",
                    "--end", f"{last:%Y-%m-%d}", cwd=tmp_path, **env)  # fmt: skip
    assert older.returncode == 0, older.stderr  # a finished backfill, which no retry replays
    done_before = len(journal_entries(target))
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    total = days * len(MODELS)
    command = ["backfill", "--start", f"{first:%Y-%m-%d}", "--end", f"{last:%Y-%m-%d}",
               "--concurrency", "1"]  # fmt: skip  # one batch at a time: no finished day between
    for _ in range(3):
        built = len(journal_entries(target)) - done_before
        kill_at = built + rng.randrange(5, (total - built) // 3)
        running = Running(*command, env=env)
        wait_until(lambda at=kill_at: len(journal_entries(target)) - done_before >= at,
                   f"{kill_at} batches built (seed {seed})", timeout=600)  # fmt: skip
        running.process.kill()  # SIGKILL: no handler, no final state, no run results
        running.process.wait()
        command = ["backfill", "--retry"]

    built = len(journal_entries(target)) - done_before
    retried = run_elt(*command, cwd=tmp_path, **env)

    assert retried.returncode == 0, retried.stderr
    assert (
        f"retried {first}..{last} ({days} days) of fct_purchases, daily_revenue on target local:"
        f" {total - built} of {total - built} batches built (the unfinished ones; {built} built"
        " before)"
    ) in retried.stdout, (retried.stdout, seed)
    mine = journal_entries(target)[done_before:]
    assert len(mine) == total and len(set(mine)) == total, seed  # each batch built once
    rows = table_rows(latest_backfill_artifact())
    assert {r["fct_purchases status"] for r in rows} <= {"success", "built before"}
    assert sum(r["fct_purchases rows"] for r in rows) == days * PER_DAY
    assert_marts_equal_a_full_rebuild(tmp_path, warehouse, cli)


def assert_marts_equal_a_full_rebuild(tmp_path: Path, warehouse: Path, cli) -> None:
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
    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data


@pytest.mark.slow
def test_a_run_given_no_days_builds_the_marts_whole_and_dbts_lookback_is_one_var_away(
    tmp_path, cli
):
    """`elt transform` is given no days: it builds the time-partitioned marts whole, in one
    statement, so a purchase that arrives late for six days ago is in them. With
    `marts_whole: false` the build is dbt's own microbatch run, which rebuilds only today and
    the two days before (`lookback` 2): the old day waits until `elt backfill` rebuilds it."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=10)
    project = microbatch_project(tmp_path, begin=first)
    warehouse = tmp_path / "warehouse.duckdb"
    generate_raw(warehouse, first, 10, PER_DAY)
    settings = {
        "DBT_PROJECT_DIR": str(project),
        "DUCKDB_PATH": str(warehouse),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
    }
    built = cli("transform", cwd=tmp_path, **settings)  # the first run: each mart whole
    assert built.returncode == 0, built.stderr
    assert batches_built(tmp_path / "target") == {}

    yesterday, six_days_ago = today - timedelta(days=1), today - timedelta(days=6)
    late_purchase(warehouse, 900001, yesterday)
    late_purchase(warehouse, 900002, six_days_ago)
    lookback = cli("transform", "--vars", "{marts_whole: false}", cwd=tmp_path, **settings)

    assert lookback.returncode == 0, lookback.stderr
    assert batches_built(tmp_path / "target") == {"fct_purchases": 3, "daily_revenue": 3}
    purchases = dict(query(warehouse, PURCHASES_ON.format(yesterday, six_days_ago)))
    assert purchases == {yesterday: PER_DAY + 1, six_days_ago: PER_DAY}  # the old day waits
    day = f"{six_days_ago:%Y-%m-%d}"
    backfilled = cli("backfill", "--start", day, "--end", day, cwd=tmp_path, **settings)
    assert backfilled.returncode == 0, backfilled.stderr
    purchases = dict(query(warehouse, PURCHASES_ON.format(yesterday, six_days_ago)))
    assert purchases == {yesterday: PER_DAY + 1, six_days_ago: PER_DAY + 1}

    late_purchase(warehouse, 900003, six_days_ago)  # late again: the daily run has it
    daily = cli("transform", cwd=tmp_path, **settings)
    assert daily.returncode == 0, daily.stderr
    assert batches_built(tmp_path / "target") == {}
    purchases = dict(query(warehouse, PURCHASES_ON.format(yesterday, six_days_ago)))
    assert purchases == {yesterday: PER_DAY + 1, six_days_ago: PER_DAY + 2}


def late_purchase(warehouse: Path, purchase_id: int, day: date) -> None:
    with duckdb.connect(str(warehouse)) as db:
        db.execute(
            "insert into raw.purchases by name select ? as id, '1' as user_id,"
            " 1::bigint as product_id, ?::timestamp + interval 12 hour as purchased_at,"
            " now() at time zone 'UTC' as _airbyte_extracted_at",
            [purchase_id, day],
        )


PURCHASES_ON = (
    "select purchase_date, purchases from analytics.daily_revenue"
    " where purchase_date in ('{}', '{}')"
)


def batches_built(target) -> dict[str, int]:
    """The daily batches dbt's last command built per microbatch model (run_results.json)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].rsplit(".", 1)[1]: len(r["batch_results"]["successful"])
        for r in results
        if r.get("batch_results")
    }


@pytest.mark.slow
def test_a_prefect_retry_of_the_flow_rebuilds_only_the_failed_day(elt_env, monkeypatch):
    """The backfill deployment's runs can be retried by Prefect (`retries`): the first attempt
    meets a bug in `fct_purchases` on one day, the model is fixed meanwhile, and the retry
    rebuilds that day alone."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=10)
    bad_day = f"{first + timedelta(days=4):%Y-%m-%d}"
    project = microbatch_project(elt_env, begin=first)
    generate_raw(elt_env / "warehouse.duckdb", first, 10, PER_DAY)
    model = project / "models" / "marts" / "fct_purchases.sql"
    fixed_sql = model.read_text()
    model.write_text(fixed_sql.replace(
        "where p.purchased_at is not null",
        "where p.purchased_at is not null and cast(case when cast(p.purchased_at as date) ="
        f" date '{bad_day}' then 'a bug' else '1' end as integer) = 1",
    ))  # fmt: skip
    target = elt_env / "target"
    for name, value in (("DBT_PROJECT_DIR", project), ("DBT_TARGET_PATH", target)):
        monkeypatch.setenv(name, str(value))
    staged = dbt_transform(  # what the daily runs have built
        select=["staging", "dim_products"], exclude=["test_type:data"], return_state=True
    )
    assert staged.is_completed(), staged.message

    def fix_after_the_first_attempt() -> None:
        results = target / "run_results.json"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if "partial success" in run_result_statuses(results):  # a batch failed
                model.write_text(fixed_sql)
                return
            time.sleep(0.1)

    fixer = threading.Thread(target=fix_after_the_first_attempt, daemon=True)
    fixer.start()
    state = backfill.with_options(retries=1, retry_delay_seconds=2)(
        start=first, end=today - timedelta(days=1), return_state=True
    )
    fixer.join(timeout=5)

    assert state.is_completed(), state.message
    result = state.result()
    assert result.retried
    rebuilt = {b.day[:10] for b in result.batches if b.model == "fct_purchases"}
    assert rebuilt == {bad_day}  # that day alone
    assert {b.status for b in result.batches} == {"success"}
    assert scalar(elt_env / "warehouse.duckdb", "select count(*) from analytics.fct_purchases") == (
        10 * PER_DAY
    )


def test_on_the_shipped_project_as_cloned_a_month_is_backfilled_by_day(tmp_path, cli):
    """The shipped project's marts are time-partitioned as cloned: `elt transform` builds each
    whole (one statement), and `elt backfill` rebuilds a month of them by day."""
    shipped = REPO / "dbt_project"
    warehouse = tmp_path / "warehouse.duckdb"
    generate_raw(warehouse, date(2026, 2, 1), 90, PER_DAY)
    settings = {"DBT_PROJECT_DIR": str(shipped), "DUCKDB_PATH": str(warehouse),
                "DBT_TARGET_PATH": str(tmp_path / "target")}  # fmt: skip
    built = cli("transform", cwd=tmp_path, **settings)
    assert built.returncode == 0, built.stderr
    assert batches_built(tmp_path / "target") == {}  # one statement each, no batch
    whole = scalar(warehouse, CHECKSUM.format("fct_purchases"))

    ran = cli("backfill", "--start", "2026-03-01", "--end", "2026-03-31", cwd=tmp_path, **settings)

    assert ran.returncode == 0, ran.stderr
    assert batches_built(tmp_path / "target") == {"fct_purchases": 31, "daily_revenue": 31}
    assert scalar(warehouse, CHECKSUM.format("fct_purchases")) == whole  # the same rows


def test_a_project_with_its_marts_switched_off_names_the_var_to_turn_on(tmp_path, cli):
    """With the var off, the marts are tables: `elt backfill` says which var, in one line, and
    builds nothing."""
    project = microbatch_project(tmp_path, begin=date(2026, 1, 1))
    settings = project / "dbt_project.yml"
    settings.write_text(settings.read_text().replace(
        "time_partitioned_marts: true", "time_partitioned_marts: false"))  # fmt: skip
    ran = cli("backfill", "--start", "2026-03-01", "--end", "2026-03-31", cwd=tmp_path,
              DBT_PROJECT_DIR=str(project), DUCKDB_PATH=str(tmp_path / "warehouse.duckdb"),
              DBT_TARGET_PATH=str(tmp_path / "target"))  # fmt: skip
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1] == (
        "error: the dbt project has no time-partitioned model to backfill (dbt's "
        "incremental_strategy 'microbatch', by day on an event_time): set the var "
        f"time_partitioned_marts: true in {settings}, and marts_begin to the "
        "first day of its history"
    )
    assert not (tmp_path / "target" / "run_results.json").exists()  # dbt built nothing
