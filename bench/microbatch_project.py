"""A dbt project with time-partitioned marts (dbt microbatch by day) and a year of raw data
for it, for the backfill's tests and benchmark.

`microbatch_project` copies the shipped project and makes its time-based marts
(`fct_purchases` on `purchased_at`, `daily_revenue` on `purchase_date`) incremental with dbt's
microbatch strategy; `stg_purchases` declares its `event_time`, so that each batch reads only
its day. `generate_raw` writes the raw tables Airbyte would: users, products and `days` days of
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
CONFIG = (
    "{{{{ config(materialized='incremental', incremental_strategy='microbatch', "
    "event_time='{event_time}', batch_size='day', begin='{begin}', lookback=2{extra}) }}}}\n"
)


def microbatch_project(path: Path, begin: date, extra_config: str = "") -> Path:
    """`extra_config`: more of the marts' config, e.g. `tmp_relation_type='transient'`."""
    project = path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    for model, event_time in MODELS.items():
        sql = project / "models" / "marts" / f"{model}.sql"
        sql.write_text(
            CONFIG.format(
                event_time=event_time,
                begin=begin,
                extra=f", {extra_config}" if extra_config else "",
            )
            + sql.read_text()
        )
    staging = project / "models" / "staging" / "_staging.yml"
    staging.write_text(
        staging.read_text().replace(
            "  - name: stg_purchases\n",
            "  - name: stg_purchases\n    config:\n      event_time: purchased_at\n",
        )
    )
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
                   {day} + to_days(i) + to_hours(j) as added_to_cart_at,
                   {day} + to_days(i) + to_hours(j) + to_minutes(5) as purchased_at,
                   case when j = {per_day - 1} then {day} + to_days(i + 1) end as returned_at,
                   {day} + to_days(i) as created_at, {day} + to_days(i) as updated_at,
                   {loaded}
            from range({days}) d(i), range({per_day}) k(j)
        """)  # fmt: skip


__all__ = ["MODELS", "generate_raw", "microbatch_project"]
