"""Read-only queries on a DB-API connection to the warehouse (DuckDB or Snowflake): whether
the raw tables Airbyte wrote are typed, their columns, the values Airbyte could not type.
(Freshness goes through dbt itself.)"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def _query(conn: Any, sql: str) -> list[tuple]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def _literal(value: str) -> str:
    return value.replace("'", "''")


# Where Airbyte's Snowflake destination keeps raw tables (its `raw_data_schema` default), named
# `<namespace>_raw__stream_<stream>`.
AIRBYTE_INTERNAL_SCHEMA = "airbyte_internal"
RAW_ONLY_FIX = (
    "the Airbyte destination writes raw tables only: in the Snowflake destination turn off "
    '"Disable Final Tables" (disable_type_dedupe; on 4.x also "Legacy raw tables"), '
    "then sync again"
)


def columns_of(conn: Any, schema: str, table: str) -> set[str]:
    rows = _query(
        conn,
        "select column_name from information_schema.columns "
        f"where lower(table_schema) = lower('{_literal(schema)}') "
        f"and lower(table_name) = lower('{_literal(table)}')",
    )
    return {str(r[0]).lower() for r in rows}


def column_types(conn: Any, schema: str) -> dict[str, list[tuple[str, str]]]:
    """Each table of `schema`: its (column, type) pairs in order, names as the warehouse
    writes them (one query for the schema)."""
    rows = _query(
        conn,
        "select table_name, column_name, data_type from information_schema.columns "
        f"where lower(table_schema) = lower('{_literal(schema)}') "
        "order by table_name, ordinal_position",
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(str(table).lower(), []).append((str(column), str(kind)))
    return out


def raw_only_tables(conn: Any, schema: str, tables: Sequence[str]) -> list[str]:
    """The streams whose records sit only in Airbyte's raw JSON (`_airbyte_data`): a table
    with no typed column, or no table at all beside its raw table in `airbyte_internal`."""
    found = []
    for table in tables:
        columns = columns_of(conn, schema, table)
        if columns and all(c.startswith("_airbyte_") for c in columns):
            found.append(f"{schema}.{table} has only {', '.join(sorted(columns))}")
        elif not columns:
            raw = f"{schema}_raw__stream_{table}"
            if columns_of(conn, AIRBYTE_INTERNAL_SCHEMA, raw):
                found.append(f"{schema}.{table} is missing, {AIRBYTE_INTERNAL_SCHEMA}.{raw} is not")
    return found


def airbyte_changes(
    conn: Any, schema: str, table: str, since: datetime | None
) -> tuple[int, Counter[str]]:
    """The rows Airbyte loaded into `schema.table` since `since` (all, if None), and per
    column how many of them `_airbyte_meta.changes` says were nulled or truncated.

    Only the rows with a change come back (`to_json` is the same on DuckDB and Snowflake);
    clean rows carry `{}` or `"changes": []`, with no `"field"`.
    """
    where = f"where _airbyte_extracted_at >= '{since.isoformat()}'" if since else "where true"
    name = f"{schema}.{table}"
    total = int(_query(conn, f"select count(*) from {name} {where}")[0][0])
    changed: Counter[str] = Counter()
    meta = "to_json(_airbyte_meta)"
    for (text,) in _query(conn, f"select {meta} from {name} {where} and {meta} like '%\"field\"%'"):
        fields = {
            str(change.get("field", "")).lower()
            for change in (json.loads(text) or {}).get("changes") or []
            if change.get("change") in ("NULLED", "TRUNCATED")
        }
        changed.update(fields - {""})
    return total, changed


def rows_per_day(
    conn: Any, schema: str, table: str, relation: str, event_time: str, start: str, end: str
) -> dict[str, int]:
    """Rows of `relation` (quoted as dbt does) per day of `event_time` in [start, end); none
    when the table does not exist."""
    if not columns_of(conn, schema, table):
        return {}
    rows = _query(
        conn,
        f"select cast({event_time} as date), count(*) from {relation} "
        f"where {event_time} >= '{_literal(start)}' and {event_time} < '{_literal(end)}' "
        "group by 1",
    )
    return {str(day)[:10]: int(count) for day, count in rows}
