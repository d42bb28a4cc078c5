"""The same dbt project and freshness check on the Snowflake target, against a fakesnow server
(the Snowflake wire protocol on loopback), after loading it with the embedded sync's raw tables."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import snowflake.connector

# Bound now: once fakesnow imports its `server` submodule, `fakesnow.server` names the module.
from fakesnow import server as start_fakesnow_server
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency

from orchestration.flows.dbt_transform import dbt_transform
from orchestration.flows.freshness_check import freshness_check
from orchestration.limits import warehouse_limit
from tests.conftest import FAKER_COUNT, REPO, dbt_target

# slow: dbt builds on the Snowflake emulator
pytestmark = pytest.mark.slow

SECRET = f"pw-{uuid.uuid4().hex}"

# How Airbyte's Snowflake destination (typed tables, Destinations V2 / direct-load) writes a
# stream: quoted UPPERCASE names, integers as NUMBER(38,0), numbers as FLOAT, date-times as
# TIMESTAMP_TZ with the source's offset, objects as VARIANT, and its own NOT NULL columns.
AIRBYTE_TYPES = {"BIGINT": "NUMBER(38,0)", "VARCHAR": "VARCHAR", "JSON": "VARIANT"}
AIRBYTE_COLUMNS = {
    "_airbyte_raw_id": "VARCHAR NOT NULL",
    "_airbyte_extracted_at": "TIMESTAMP_TZ NOT NULL",
    "_airbyte_meta": "VARIANT NOT NULL",
    "_airbyte_generation_id": "NUMBER(38,0)",
}
PACIFIC = timezone(timedelta(hours=-8))  # the source reports Pacific time: "23:30-08:00"


def airbyte_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "FLOAT"
    if duckdb_type == "TIMESTAMP":
        return "TIMESTAMP_TZ"
    return AIRBYTE_TYPES[duckdb_type]


def with_offset(value: object) -> object:
    """A UTC timestamp as the same instant written with a -08:00 offset."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).astimezone(PACIFIC).isoformat(sep=" ")
    return value


def load_raw_tables(
    source: Path, conn, tables: list[str], without_offset: frozenset[str] = frozenset()
) -> None:
    """The embedded sync's raw tables, re-created exactly as the Snowflake destination would.
    Columns named in `without_offset` are date-times a source sent without an offset: the
    destination writes them as TIMESTAMP_NTZ, the UTC wall clock."""
    cur = conn.cursor()
    with duckdb.connect(str(source), read_only=True) as db:
        for table in tables:
            described = db.execute(f"describe raw.{table}").fetchall()
            columns = {c[0]: airbyte_type(c[1]) for c in described}
            columns.update(AIRBYTE_COLUMNS)
            columns.update({c: "TIMESTAMP_NTZ" for c in without_offset if c in columns})
            ddl = ", ".join(f'"{name.upper()}" {kind}' for name, kind in columns.items())
            cur.execute(f'create or replace table RAW."{table.upper()}" ({ddl})')
            select = ", ".join(
                "0"
                if name == "_airbyte_generation_id"
                else f"cast({name} as varchar)"
                if columns[name].startswith("VARIANT")
                else name
                for name in columns
            )
            rows = [
                tuple(
                    v if columns[name] == "TIMESTAMP_NTZ" else with_offset(v)
                    for name, v in zip(columns, row, strict=True)
                )
                for row in db.execute(f"select {select} from raw.{table}").fetchall()
            ]
            names = ", ".join(f'"{name.upper()}"' for name in columns)
            placeholders = ", ".join(["%s"] * len(columns))
            cur.executemany(
                f'insert into RAW."{table.upper()}" ({names}) values ({placeholders})', rows
            )


@pytest.fixture(scope="module")
def fakesnow_kwargs():
    """A Snowflake wire-protocol server on loopback for this module's tests."""
    with start_fakesnow_server() as kwargs:
        conn = snowflake.connector.connect(**kwargs)
        conn.cursor().execute("create database if not exists ELT")
        conn.close()
        yield kwargs


@pytest.fixture
def fake_snowflake(fakesnow_kwargs, warehouse, monkeypatch):
    with snowflake_target(fakesnow_kwargs, warehouse, monkeypatch) as conn:
        yield conn


@contextmanager
def snowflake_target(kwargs, warehouse: Path, monkeypatch, without_offset=frozenset()):
    """The emulator loaded with `warehouse`'s raw tables, as the dbt target `dev`."""
    with snowflake.connector.connect(**kwargs) as conn:
        conn.cursor().execute("use database ELT")
        conn.cursor().execute("create schema if not exists RAW")
        conn.cursor().execute("create schema if not exists ANALYTICS")
        load_raw_tables(warehouse, conn, ["users", "products", "purchases"], without_offset)
        monkeypatch.setenv("DBT_TARGET", "dev")
        for key, value in {
            "SNOWFLAKE_ACCOUNT": kwargs["account"],
            "SNOWFLAKE_USER": kwargs["user"],
            "SNOWFLAKE_PASSWORD": SECRET,  # fakesnow accepts any password
            "SNOWFLAKE_DATABASE": "ELT",
            "SNOWFLAKE_SCHEMA": "ANALYTICS",
            "SNOWFLAKE_WAREHOUSE": "COMPUTE_WH",
            "SNOWFLAKE_HOST": kwargs["host"],
            "SNOWFLAKE_PORT": str(kwargs["port"]),
            "SNOWFLAKE_PROTOCOL": kwargs["protocol"],
        }.items():
            monkeypatch.setenv(key, value)
        yield conn


def test_dbt_build_and_freshness_on_the_snowflake_target(fake_snowflake, warehouse, caplog):
    """On tables shaped as the destination writes them, with offset timestamps, the marts
    bucket by the UTC date exactly as on DuckDB. The build takes a slot of its warehouse's
    global limit: while another holder has the only slot, it waits, then runs."""
    caplog.set_level(logging.INFO)
    limit = warehouse_limit("COMPUTE_WH")
    with slot_taken_elsewhere(limit) as release, ThreadPoolExecutor(1) as pool:
        build = pool.submit(dbt_transform)
        waiting = "dbt build: waiting for a slot of the global concurrency limit"
        deadline = time.monotonic() + 120
        while not any(waiting in r.getMessage() for r in caplog.records):
            assert not build.done() and time.monotonic() < deadline, "no wait for the slot"
            time.sleep(0.2)
        release()
        result = build.result(timeout=600)

    assert not result.failed_nodes
    assert result.count("model") == 7
    cur = fake_snowflake.cursor()
    cur.execute("select count(*) from ELT.ANALYTICS.DIM_USERS")
    assert cur.fetchone()[0] == FAKER_COUNT
    daily = "select purchase_date, purchases, round(gross_revenue, 2) from {} order by 1"
    cur.execute(daily.format("ELT.ANALYTICS.DAILY_REVENUE"))
    on_snowflake = [tuple(row) for row in cur.fetchall()]
    with duckdb.connect(str(warehouse), read_only=True) as db:
        on_duckdb = db.execute(daily.format("analytics.daily_revenue")).fetchall()
    assert on_snowflake and on_snowflake == [(d, n, float(r)) for d, n, r in on_duckdb]

    freshness = freshness_check()
    assert all(r.passed for r in freshness)


@contextmanager
def slot_taken_elsewhere(name: str):
    """A global limit of one slot, held by another "worker" until `release()` is called."""
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with concurrency(name):
            held.set()
            release.wait(300)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(60)
    try:
        yield release.set
    finally:
        release.set()
        holder.join(60)
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)


STAGING = dbt_target(REPO / "dbt_project") / "compiled" / "elt" / "models" / "staging"
UTC_CAST = re.compile(
    r"cast\(convert_timezone\('UTC', cast\((\w+) as timestamp_tz\)\) as timestamp_ntz\)"
)


def test_the_compiled_snowflake_sql_holds_on_a_real_account(fake_snowflake):
    """What the emulator cannot show: fakesnow resolves quoted and unquoted names alike and
    converts TIMESTAMP_TZ to UTC on any cast. So the SQL itself must name raw columns only
    unquoted (they resolve to the destination's UPPERCASE) and convert every raw timestamp
    to UTC explicitly."""
    dbt_transform(select=["staging"])
    timestamps = {
        "stg_users.sql": {"created_at", "updated_at", "_airbyte_extracted_at"},
        "stg_products.sql": {"created_at", "updated_at", "_airbyte_extracted_at"},
        "stg_purchases.sql": {
            "added_to_cart_at", "purchased_at", "returned_at", "created_at", "updated_at",
            "_airbyte_extracted_at",
        },
    }  # fmt: skip
    for name, columns in timestamps.items():
        sql = (STAGING / name).read_text()
        assert not re.findall(r'"[^"]*[a-z][^"]*"', sql), f"{name}: a quoted lowercase name"
        assert set(UTC_CAST.findall(sql)) == columns, name
        assert "timestamp" not in UTC_CAST.sub("", sql).lower(), f"{name}: a bare timestamp cast"


def test_both_adapters_keep_the_same_version_of_a_record_and_the_same_instant(
    fakesnow_kwargs, warehouse, monkeypatch
):
    """A newer extraction of a user without `updated_at` (and another name) beside the dated
    version: Snowflake sorts NULLs first under DESC, DuckDB last, so only an explicit order
    keeps the same version on both. A date-time sent without an offset (TIMESTAMP_NTZ on
    Snowflake) is taken as UTC, never read in the session's time zone."""
    with duckdb.connect(str(warehouse)) as db:
        (user_id,) = db.execute("select min(id) from raw.users").fetchone()
        db.execute(
            "insert into raw.users select * replace (null as updated_at, 'Undated Version' as "
            "name, _airbyte_extracted_at + interval 1 hour as _airbyte_extracted_at) "
            "from raw.users where id = ?",
            [user_id],
        )
    mart = "select user_id, user_name, email, created_at from {} where user_id = " + str(user_id)
    dbt_transform()  # on the profile's DuckDB target
    with duckdb.connect(str(warehouse), read_only=True) as db:
        on_duckdb = db.execute(mart.format("analytics.dim_users")).fetchall()

    with snowflake_target(fakesnow_kwargs, warehouse, monkeypatch, {"created_at"}) as conn:
        dbt_transform()
        cur = conn.cursor()
        cur.execute(mart.format("ELT.ANALYTICS.DIM_USERS"))
        on_snowflake = [tuple(row) for row in cur.fetchall()]
    assert on_duckdb and on_duckdb[0][1] != "Undated Version", on_duckdb
    assert on_snowflake == on_duckdb

    # What the emulator cannot show, in the SQL a real account runs:
    sql = (STAGING / "stg_users.sql").read_text()
    order = " ".join(re.search(r"order by (.*?)\)", sql, re.S).group(1).split())
    assert order == "updated_at desc nulls last, _airbyte_extracted_at desc nulls last"
    assert "cast(created_at as timestamp_ntz) as created_at" in sql  # NTZ: taken as UTC
    assert UTC_CAST.search(sql).group(1) == "updated_at"  # TIMESTAMP_TZ: converted exactly


def files_holding_the_password(workdir: Path) -> list[Path]:
    written = [REPO / "dbt_project" / "target", REPO / "dbt_project" / "logs", workdir]
    return [
        path
        for root in written
        if root.exists()
        for path in root.rglob("*")
        if path.is_file() and SECRET.encode() in path.read_bytes()
    ]


def test_the_snowflake_password_is_never_written_to_disk(fake_snowflake, elt_env):
    dbt_transform(select=["stg_users"])
    assert files_holding_the_password(elt_env) == []


def test_dbt_takes_the_snowflake_credentials_from_the_block(fake_snowflake, elt_env, monkeypatch):
    from orchestration.blocks.register import register_blocks, validated_blocks

    fake_snowflake.cursor().execute("create schema if not exists FROM_BLOCK")
    monkeypatch.setenv("SNOWFLAKE_SCHEMA", "FROM_BLOCK")
    register_blocks(validated_blocks(), "snowflake-ci")
    for name in [v for v in os.environ if v.startswith("SNOWFLAKE_")] + ["DBT_TARGET"]:
        monkeypatch.delenv(name)  # from here on only the blocks know the warehouse

    result = dbt_transform(select=["stg_users"], block_name="snowflake-ci")

    assert [n.name for n in result.nodes if n.resource_type == "model"] == ["stg_users"]
    cur = fake_snowflake.cursor()
    cur.execute("select count(*) from ELT.FROM_BLOCK.STG_USERS")
    assert cur.fetchone()[0] == FAKER_COUNT
    assert files_holding_the_password(elt_env) == []


def test_the_time_partitioned_marts_backfill_by_day_on_snowflake(fakesnow_kwargs, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    """dbt-snowflake's microbatch: each day's batch reads only its day (the compiled SQL) and
    replaces only its day; the marts hold what the same days built on DuckDB hold."""
    from bench.microbatch_project import generate_raw, microbatch_project
    from orchestration.flows.backfill import backfill

    first = datetime.now(UTC).date() - timedelta(days=5)
    source = tmp_path / "source" / "warehouse.duckdb"
    source.parent.mkdir()
    generate_raw(source, first, days=5, per_day=4)
    # Each batch after the first goes through a temporary relation; dbt-snowflake's default is
    # a temporary view named database.schema.x, which the emulator cannot create (DuckDB keeps
    # temporary objects in its own catalog): a transient table, the other kind it offers.
    project = microbatch_project(tmp_path, first, extra_config="+tmp_relation_type: transient")
    target = tmp_path / "target"
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    with snowflake_target(fakesnow_kwargs, source, monkeypatch) as conn:
        conn.cursor().execute("drop table if exists ANALYTICS.FCT_PURCHASES")
        conn.cursor().execute("drop table if exists ANALYTICS.DAILY_REVENUE")
        dbt_transform(select=["staging", "dim_products"], exclude=["test_type:data"])

        result = backfill(start=first + timedelta(days=1), end=first + timedelta(days=3))

        assert [(b.model, b.status) for b in result.batches] == [
            ("fct_purchases", "success")] * 3 + [("daily_revenue", "success")] * 3  # fmt: skip
        cur = conn.cursor()
        cur.execute("select purchase_date, purchases from ANALYTICS.DAILY_REVENUE order by 1")
        assert cur.fetchall() == [(first + timedelta(days=d), 4) for d in (1, 2, 3)]
    day = first + timedelta(days=2)
    compiled = project_compiled(target, "fct_purchases", day)
    assert (
        f"from ELT.ANALYTICS.stg_purchases where purchased_at >= to_timestamp_tz('{day} "
        f"00:00:00+00:00') and purchased_at < to_timestamp_tz('{day + timedelta(days=1)} "
        "00:00:00+00:00')"
    ) in compiled  # the batch reads its own day of stg_purchases, nothing else


def compiled_models(project: Path) -> Path:
    return dbt_target(project) / "compiled" / "elt" / "models"


def project_compiled(target: Path, model: str, day) -> str:
    (path,) = (target / "compiled" / "elt" / "models" / "marts" / model).glob(f"{model}_{day}.sql")
    return path.read_text()


def test_schema_drift_reads_the_snowflake_target_through_dbts_connection(fake_snowflake):
    """The drift check on Snowflake: its information_schema (NUMBER(38,0), TIMESTAMP_TZ,
    VARIANT) and `_airbyte_meta` as VARIANT; a dropped column a model reads is breaking, and
    values Airbyte nulled over the source's limit are counted from the VARIANT."""
    from orchestration.flows.schema_drift import drift_check

    assert drift_check().changes == []  # today's schema becomes the accepted one
    cur = fake_snowflake.cursor()
    cur.execute('alter table RAW."USERS" drop column "EMAIL"')
    nulled = '{"changes": [{"field": "age", "change": "NULLED", "reason": "x"}]}'
    cur.execute(f'update RAW."USERS" set "_AIRBYTE_META" = parse_json(\'{nulled}\') '
                'where "ID" % 10 < 3')  # fmt: skip

    report = drift_check(fail_on_breaking=False)  # as full_pipeline calls it

    described = [c.describe() for c in report.changes]
    assert "airbyte.users: column dropped email, used by stg_users" in described, described
    (values,) = [c for c in report.changes if c.kind == "values changed"]
    assert (values.column, values.breaking, round(values.share or 0, 1)) == ("age", True, 0.3)
    assert "model.elt.dim_users" in report.held_back


def test_a_change_driven_build_on_snowflake_builds_what_new_rows_reach(
    fake_snowflake, tmp_path, monkeypatch
):
    """The same change-driven build on the Snowflake target: dbt's `source freshness` reads each
    raw table's newest row there; nothing new builds nothing, a new user builds its models, a
    late purchase replaces its day of the marts, and only that day (the compiled SQL)."""
    from bench.microbatch_project import microbatch_project

    # The shipped project; the replaced days go through a transient table, as in the backfill's
    # test above (the emulator cannot create dbt-snowflake's default, a temporary table named
    # database.schema.x).
    project = microbatch_project(tmp_path, date(2003, 1, 1), "+tmp_relation_type: transient")
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    first = dbt_transform(changed_only=True)
    assert first.count("model") == 7 and first.reused == []
    unchanged = dbt_transform(changed_only=True)
    assert unchanged.nodes == []
    assert len(unchanged.reused) == 7
    cur = fake_snowflake.cursor()
    cur.execute(  # a user synced since: its extracted_at is the newest of RAW.USERS
        'insert into RAW."USERS" ("ID", "NAME", "_AIRBYTE_RAW_ID", "_AIRBYTE_EXTRACTED_AT",'
        " \"_AIRBYTE_META\") select 999999, 'late', 'r-999999',"
        ' dateadd(hour, 1, max("_AIRBYTE_EXTRACTED_AT")), \'{}\' from RAW."USERS"'
    )
    users = dbt_transform(changed_only=True)
    built = {n.name for n in users.nodes if n.resource_type == "model"}
    assert built == {"stg_users", "dim_users"}
    cur.execute("select count(*) from ELT.ANALYTICS.DIM_USERS where user_id = 999999")
    assert cur.fetchone()[0] == 1

    cur.execute(  # a late purchase, of a day long past: the marts replace that day only
        'insert into RAW."PURCHASES" ("ID", "USER_ID", "PRODUCT_ID", "PURCHASED_AT",'
        ' "_AIRBYTE_RAW_ID", "_AIRBYTE_EXTRACTED_AT", "_AIRBYTE_META") select 999999, 1, 1,'
        " '2019-05-02 10:00:00+00:00'::timestamp_tz, 'r-p-999999',"
        ' dateadd(hour, 1, max("_AIRBYTE_EXTRACTED_AT")), \'{}\' from RAW."PURCHASES"'
    )
    cur.execute(
        "select purchases from ELT.ANALYTICS.DAILY_REVENUE where purchase_date = '2019-05-02'"
    )
    before = (cur.fetchone() or (0,))[0]
    late = dbt_transform(changed_only=True)
    assert late.days == ["2019-05-02"]
    assert {"fct_purchases", "daily_revenue"} <= {n.name for n in late.nodes}
    cur.execute(
        "select purchases from ELT.ANALYTICS.DAILY_REVENUE where purchase_date = '2019-05-02'"
    )
    assert cur.fetchone()[0] == before + 1
    compiled = (compiled_models(project) / "marts" / "daily_revenue.sql").read_text()
    assert "in (cast('2019-05-02' as date))" in compiled, compiled  # the day, in the SQL
