"""Dagster's side of the freshness scenario in `make parity` (run with parity/'s Python).

The raw table is an external asset (Airbyte loads it), so Dagster's way is an observable source
asset that reports the table's newest `_airbyte_extracted_at` as `dagster/last_updated_timestamp`,
and `build_last_update_freshness_checks` on it with the same SLA as the dbt source. One process:
an ephemeral instance, the observation, then the check; prints what happened as JSON.

    python dagster_freshness.py WAREHOUSE.duckdb SCHEMA.TABLE SLA_HOURS
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import duckdb
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ObserveResult,
    TimestampMetadataValue,
    build_last_update_freshness_checks,
    define_asset_job,
    observable_source_asset,
)


def main(warehouse: str, table: str, sla_hours: float) -> dict[str, object]:
    @observable_source_asset(name=table.split(".")[-1])
    def raw_table() -> ObserveResult:
        with duckdb.connect(warehouse, read_only=True) as conn:
            (newest,) = conn.execute(
                f"select epoch(max(_airbyte_extracted_at)) from {table}"
            ).fetchone()
        return ObserveResult(
            metadata={"dagster/last_updated_timestamp": TimestampMetadataValue(float(newest))}
        )

    checks = build_last_update_freshness_checks(
        assets=[raw_table],
        lower_bound_delta=timedelta(hours=sla_hours),
        severity=AssetCheckSeverity.ERROR,
    )
    defs = Definitions(
        assets=[raw_table],
        asset_checks=checks,
        jobs=[
            define_asset_job("observe", selection=AssetSelection.assets(raw_table.key)),
            define_asset_job("check", selection=AssetSelection.checks(*checks)),
        ],
    )
    instance = DagsterInstance.ephemeral()
    defs.resolve_job_def("observe").execute_in_process(instance=instance)
    result = defs.resolve_job_def("check").execute_in_process(
        instance=instance, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return {
        "passed": evaluation.passed,
        "severity": evaluation.severity.value,
        "description": evaluation.description,
        "run_success": result.success,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], float(sys.argv[3]))))
