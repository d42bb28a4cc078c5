"""Parity: a 365-day backfill of the time-partitioned marts, here and in Dagster.

The project of `bench/microbatch_project.py` (the shipped one, its `fct_purchases` and
`daily_revenue` dbt microbatch models by day) on a year of generated purchases; each side starts
from its own copy of one warehouse (views and dimensions built, marts not):

- here: `elt backfill --start A --end B` (one flow run; one dbt build over the range);
- Dagster: `@dbt_assets` over a `DailyPartitionsDefinition` with a single-run backfill policy
  (`parity/dagster_backfill_defs.py`), `dagster asset materialize --partition-range A...B`.

Reported per side: the whole process's wall time, the runs it created, and whether the marts
equal the same marts rebuilt from the whole history (the shipped project's tables).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.microbatch_project import generate_raw, mart_checksums, microbatch_project
from tests.servers import bench_server

REPO = Path(__file__).resolve().parents[1]
PARITY_PYTHON = REPO / "parity" / ".venv" / "bin" / "python"
DAGSTER = REPO / "parity" / ".venv" / "bin" / "dagster"
DEFS = REPO / "parity" / "dagster_backfill_defs.py"
BIN = Path(sys.executable).parent
SIDES = ("elt backfill", "Dagster (partitioned @dbt_assets, single-run backfill)")
MARTS = ("fct_purchases", "daily_revenue")


def checksums(warehouse: Path) -> list[str]:
    return mart_checksums(warehouse, MARTS)


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{proc.stdout[-3000:]}{proc.stderr}")
    return time.perf_counter() - started


def runs_created_since(api: str, since: str) -> list[dict]:
    """The flow runs a command created from `since` on (not a deployment's scheduled runs): the
    server may be shared (`bench_server`)."""
    after = {"expected_start_time": {"after_": since}, "deployment_id": {"is_null_": True}}
    only = {"flow_runs": after}
    return httpx.post(f"{api}/flow_runs/filter", json=only, timeout=30).json()


def run(days: int = 365) -> dict[str, dict[str, str]]:
    first = datetime.now(UTC).date() - timedelta(days=days)
    last = first + timedelta(days=days - 1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = microbatch_project(root, begin=first)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DUCKDB_"))}
        common = ["--project-dir", str(project), "--profiles-dir", str(project)]
        prepared = root / "prepared" / "warehouse.duckdb"
        prepared.parent.mkdir()
        generate_raw(prepared, first, days, per_day=6)
        env = {**base, "DUCKDB_PATH": str(prepared)}
        timed([str(BIN / "dbt"), "run", "-s", "staging", "dim_products", *common], env)
        timed([str(BIN / "dbt"), "parse", *common], env)  # dagster-dbt reads target/manifest

        def copy(side: str) -> Path:
            path = root / side / "warehouse.duckdb"
            path.parent.mkdir()
            shutil.copyfile(prepared, path)
            return path

        whole = copy("whole")  # the reference: the shipped project's marts as tables, whole
        timed([str(BIN / "dbt"), "build", "-s", "fct_purchases+", "--project-dir",
               str(REPO / "dbt_project"), "--profiles-dir", str(REPO / "dbt_project"),
               "--target-path", str(root / "whole-target"),
               "--vars", "{time_partitioned_marts: false}"],
              {**base, "DUCKDB_PATH": str(whole)})  # fmt: skip
        expected = checksums(whole)

        results: dict[str, dict[str, str]] = {}
        ours = copy("ours")
        with bench_server(root / "prefect-home", base) as server:
            api = server["PREFECT_API_URL"]
            env = {**server, "DUCKDB_PATH": str(ours), "DBT_PROJECT_DIR": str(project),
                   "DBT_TARGET_PATH": str(root / "ours-target")}  # fmt: skip
            since = datetime.now(UTC).isoformat()
            seconds = timed([str(BIN / "elt"), "backfill", "--start", f"{first}",
                             "--end", f"{last}"], env)  # fmt: skip
            runs = len(runs_created_since(api, since))
        results[SIDES[0]] = {
            "wall": f"{seconds:.1f}s",
            "runs created": str(runs),
            "marts = whole rebuild": "yes" if checksums(ours) == expected else "NO",
        }

        theirs = copy("dagster")
        home = root / "dagster-home"
        home.mkdir()
        env = {**base, "DUCKDB_PATH": str(theirs), "DBT_PROJECT_DIR": str(project),
               "DAGSTER_HOME": str(home), "BACKFILL_BEGIN": f"{first}"}  # fmt: skip
        seconds = timed([str(DAGSTER), "asset", "materialize", "-f", str(DEFS), "--select", "*",
                         "--partition-range", f"{first}...{last}"], env)  # fmt: skip
        count = "from dagster import DagsterInstance; print(DagsterInstance.get().get_runs_count())"
        runs_out = subprocess.run([str(PARITY_PYTHON), "-c", count], env=env, check=True,
                                  capture_output=True, text=True).stdout  # fmt: skip
        results[SIDES[1]] = {
            "wall": f"{seconds:.1f}s",
            "runs created": runs_out.strip().splitlines()[-1],
            "marts = whole rebuild": "yes" if checksums(theirs) == expected else "NO",
        }
    return results


__all__ = ["SIDES", "run"]
