"""Read-only queries against the warehouse the dbt target points at (DuckDB or Snowflake)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from orchestration.errors import ConfigError
from orchestration.settings import Settings


@contextmanager
def connect(settings: Settings) -> Iterator[Any]:
    """A DB-API connection to the warehouse of the selected dbt target."""
    if settings.uses_snowflake:
        settings.require_warehouse()
        import snowflake.connector

        conn = snowflake.connector.connect(**settings.snowflake_connect_args())
    else:
        import duckdb

        path = settings.duckdb_path.resolve()
        if not path.exists():
            raise ConfigError(
                f"DUCKDB_PATH={path} does not exist yet: run `elt sync` (or `elt run`) first"
            )
        conn = duckdb.connect(str(path), read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def _query(conn: Any, sql: str) -> list[tuple]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def existing_tables(conn: Any, schema: str) -> set[str]:
    rows = _query(
        conn,
        "select table_name from information_schema.tables "
        f"where lower(table_schema) = lower('{_literal(schema)}')",
    )
    return {str(r[0]).lower() for r in rows}


def newest_extracted_at(settings: Settings, tables: Sequence[str]) -> dict[str, datetime | None]:
    """Newest `_airbyte_extracted_at` per raw table (None when the table is missing or empty)."""
    schema = settings.airbyte_raw_schema
    newest: dict[str, datetime | None] = {}
    with connect(settings) as conn:
        present = existing_tables(conn, schema)
        for table in tables:
            if table.lower() not in present:
                newest[table] = None
                continue
            rows = _query(conn, f"select max(_airbyte_extracted_at) from {schema}.{table}")
            newest[table] = as_utc(rows[0][0]) if rows and rows[0][0] is not None else None
    return newest


def as_utc(value: datetime) -> datetime:
    """Airbyte writes UTC; DuckDB returns it naive, Snowflake as TIMESTAMP_TZ."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _literal(value: str) -> str:
    return value.replace("'", "''")
