"""Read-only queries on a DB-API connection to the warehouse (DuckDB or Snowflake)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


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


def newest_extracted_at(
    conn: Any, schema: str, tables: Sequence[str]
) -> dict[str, datetime | None]:
    """Newest `_airbyte_extracted_at` per raw table (None when the table is missing or empty)."""
    newest: dict[str, datetime | None] = {}
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
