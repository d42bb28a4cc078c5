"""The shipped dbt project, its time-partitioned marts beginning on a given day, and a year of
raw data for it, for the backfill's tests and benchmark.

`microbatch_project` copies the shipped project (its var `time_partitioned_marts` is true:
`fct_purchases` on `purchased_at` and `daily_revenue` on `purchase_date` are dbt microbatch
models by day from `marts_begin`, macros/time_partitioned.sql) with `marts_begin` set;
`stg_purchases` declares its `event_time`, so that each batch reads only its day.
`generate_raw` writes the raw tables Airbyte would: users, products and `days` days of
purchases; on `bad_days` one purchase names a user id that is not a number, so that exactly
those days' batches fail (the raw column is text, as a schemaless source loads it).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
MODELS = {"fct_purchases": "purchased_at", "daily_revenue": "purchase_date"}


def microbatch_project(path: Path, begin: date, extra_config: str = "") -> Path:
    """`extra_config`: more YAML config of the marts, e.g. `+tmp_relation_type: transient`."""
    project = path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    settings = project / "dbt_project.yml"
    text = settings.read_text()
    assert "time_partitioned_marts: true" in text  # the shipped default
    switched = text.replace('marts_begin: "2003-01-01"', f'marts_begin: "{begin}"')
    assert f'"{begin}"' in switched
    if extra_config:
        switched = switched.replace("    marts:\n", f"    marts:\n      {extra_config}\n")
    settings.write_text(switched)
    return project


def generate_raw(
    warehouse: Path, first: date, days: int, per_day: int, bad_days: Sequence[int] = ()
) -> None:
    """Raw users (1,000), products (100) and `per_day` purchases a day from `first` on."""
    day = f"timestamp '{first.isoformat()}'"
    bad = ", ".join(str(d) for d in bad_days) or "-1"
    loaded = "now() at time zone 'UTC' as _airbyte_extracted_at, '{}'::json as _airbyte_meta, " \
             "uuid()::varchar as _airbyte_raw_id"  # fmt: skip
    with duckdb.connect(str(warehouse)) as db:
        db.execute("create schema if not exists raw")
        db.execute(f"""
            create or replace table raw.users as
            select i::bigint as id, 'user ' || i as name, 'u' || i || '@example.com' as email,
                   (18 + i % 60)::bigint as age, case when i % 2 = 0 then 'F' else 'M' end
                   as gender, 'FR' as nationality, 'analyst' as occupation,
                   {day} - to_days(400) as created_at, {day} - to_days(400) as updated_at,
                   {loaded}
            from range(1, 1001) r(i)
        """)  # fmt: skip
        db.execute(f"""
            create or replace table raw.products as
            select i::bigint as id, 'make ' || (i % 7) as make, 'model ' || i as model,
                   (2000 + i % 25)::bigint as year, cast(10 + i * 1.5 as decimal(10, 2)) as price,
                   {day} - to_days(400) as created_at, {day} - to_days(400) as updated_at,
                   {loaded}
            from range(1, 101) r(i)
        """)  # fmt: skip
        db.execute(f"""
            create or replace table raw.purchases as
            select (i * {per_day} + j + 1)::bigint as id,
                   case when i in ({bad}) and j = 0 then 'oops'
                        else ((i * 7 + j) % 1000 + 1)::varchar end as user_id,
                   ((i + j) % 100 + 1)::bigint as product_id,
                   {day} + to_days(i) + to_hours(j % 24) as added_to_cart_at,
                   {day} + to_days(i) + to_hours(j % 24) + to_minutes(5) as purchased_at,
                   case when j = {per_day - 1} then {day} + to_days(i + 1) end as returned_at,
                   {day} + to_days(i) as created_at, {day} + to_days(i) as updated_at,
                   {loaded}
            from range({days}) d(i), range({per_day}) k(j)
        """)  # fmt: skip


__all__ = ["MODELS", "generate_raw", "microbatch_project"]


CHECKSUM = "select md5(string_agg(t::varchar, '|' order by t::varchar)) from analytics.{} t"


def mart_checksums(warehouse: Path, marts: Sequence[str]) -> list[str]:
    """A checksum of each mart's rows, whatever their order: equal marts, equal lists."""
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return [str(db.execute(CHECKSUM.format(m)).fetchone()[0]) for m in marts]  # type: ignore[index]
