"""A destination set to write raw tables only: the run stops before dbt, naming the setting."""

from __future__ import annotations

import duckdb
import pytest

from orchestration.checks.warehouse import raw_only_tables
from tests.conftest import REPO, query, run_elt
from tests.fakes.airbyte_server import FakeAirbyte

pytestmark = pytest.mark.slow  # syncs with the embedded Airbyte connector

RAW_COLUMNS = (
    "_airbyte_raw_id varchar, _airbyte_extracted_at timestamp, _airbyte_loaded_at timestamp, "
    "_airbyte_data json, _airbyte_meta json, _airbyte_generation_id bigint"
)
STREAMS = ("users", "products", "purchases")


def raw_only_warehouse(path, *, in_internal_schema: bool) -> None:
    """The raw tables as the destination writes them with final tables disabled."""
    with duckdb.connect(str(path)) as db:
        schema = "airbyte_internal" if in_internal_schema else "raw"
        db.execute(f"create schema {schema}")
        for stream in STREAMS:
            table = f"raw_raw__stream_{stream}" if in_internal_schema else stream
            db.execute(f"create table {schema}.{table} ({RAW_COLUMNS})")
            db.execute(
                f"insert into {schema}.{table} values "
                "('r1', now(), now(), '{\"id\": 1}', '{}', 0)"
            )


@pytest.mark.parametrize("in_internal_schema", [False, True])
def test_raw_only_tables_are_found_in_both_layouts(tmp_path, in_internal_schema):
    path = tmp_path / "w.duckdb"
    raw_only_warehouse(path, in_internal_schema=in_internal_schema)
    with duckdb.connect(str(path), read_only=True) as conn:
        found = raw_only_tables(conn, "raw", list(STREAMS))
    assert len(found) == 3
    if in_internal_schema:
        assert (
            found[2]
            == "raw.purchases is missing, airbyte_internal.raw_raw__stream_purchases is not"
        )
    else:
        assert found[2].startswith("raw.purchases has only _airbyte_data, _airbyte_extracted_at")


def test_the_pipeline_stops_before_dbt_naming_the_destination_setting(tmp_path, prefect_api):
    warehouse = tmp_path / "warehouse.duckdb"
    raw_only_warehouse(warehouse, in_internal_schema=False)
    with FakeAirbyte() as fake:
        fake.add_connection("conn-1")
        proc = run_elt(
            "run",
            cwd=tmp_path,
            PREFECT_API_URL=prefect_api,
            AIRBYTE_SERVER_URL=fake.url,
            AIRBYTE_CONNECTION_ID="conn-1",
            AIRBYTE_POLL_INTERVAL_SECONDS="0.05",
            DUCKDB_PATH=str(warehouse),
            DBT_PROJECT_DIR=str(REPO / "dbt_project"),
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert errors[0].startswith("error: raw.users has only _airbyte_data")
    assert '"Disable Final Tables" (disable_type_dedupe' in errors[0]
    schemas = {
        r[0] for r in query(warehouse, "select schema_name from information_schema.schemata")
    }
    assert "analytics" not in schemas  # dbt never ran
