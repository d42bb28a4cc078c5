"""The same dbt project and freshness check on the Snowflake target, against a fakesnow server
(the Snowflake wire protocol on loopback), after loading it with the embedded sync's raw tables."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pytest
import snowflake.connector

# Bound now: once fakesnow imports its `server` submodule, `fakesnow.server` names the module.
from fakesnow import server as start_fakesnow_server

from orchestration.flows.dbt_transform import dbt_transform
from orchestration.flows.freshness import freshness_check
from tests.conftest import FAKER_COUNT, REPO

SECRET = f"pw-{uuid.uuid4().hex}"
SNOWFLAKE_TYPES = {"BIGINT": "NUMBER(38,0)", "VARCHAR": "VARCHAR", "JSON": "VARCHAR"}


def snowflake_type(duckdb_type: str, column: str) -> str:
    if column == "_airbyte_extracted_at":
        return "TIMESTAMP_TZ"  # what Airbyte's Snowflake destination writes
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "NUMBER")
    if duckdb_type == "TIMESTAMP":
        return "TIMESTAMP_NTZ"
    return SNOWFLAKE_TYPES[duckdb_type]


def load_raw_tables(source: Path, conn, tables: list[str]) -> None:
    cur = conn.cursor()
    with duckdb.connect(str(source), read_only=True) as db:
        for table in tables:
            columns = db.execute(f"describe raw.{table}").fetchall()
            names = [c[0] for c in columns]
            ddl = ", ".join(f"{c[0]} {snowflake_type(c[1], c[0])}" for c in columns)
            cur.execute(f"create or replace table RAW.{table} ({ddl})")
            select = ", ".join(
                f"{n} at time zone 'UTC'"
                if n == "_airbyte_extracted_at"
                else (f"cast({n} as varchar)" if c[1] == "JSON" else n)
                for n, c in zip(names, columns, strict=True)
            )
            rows = db.execute(f"select {select} from raw.{table}").fetchall()
            placeholders = ", ".join(["%s"] * len(names))
            cur.executemany(
                f"insert into RAW.{table} ({', '.join(names)}) values ({placeholders})", rows
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
    kwargs = fakesnow_kwargs
    with snowflake.connector.connect(**kwargs) as conn:
        conn.cursor().execute("use database ELT")
        conn.cursor().execute("create schema if not exists RAW")
        conn.cursor().execute("create schema if not exists ANALYTICS")
        load_raw_tables(warehouse, conn, ["users", "products", "purchases"])
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


def test_dbt_build_and_freshness_on_the_snowflake_target(fake_snowflake, warehouse):
    result = dbt_transform()

    assert not result.failed_nodes
    assert result.count("model") == 7
    cur = fake_snowflake.cursor()
    cur.execute("select count(*) from ELT.ANALYTICS.DIM_USERS")
    assert cur.fetchone()[0] == FAKER_COUNT
    cur.execute("select sum(purchases) from ELT.ANALYTICS.DAILY_REVENUE")
    snowflake_purchases = cur.fetchone()[0]
    with duckdb.connect(str(warehouse), read_only=True) as db:
        duckdb_purchases = db.execute(
            "select sum(purchases) from analytics.daily_revenue"
        ).fetchone()[0]
    assert snowflake_purchases == duckdb_purchases  # same models, same answer on both warehouses

    freshness = freshness_check()
    assert all(r.passed for r in freshness)


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
