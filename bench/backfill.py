"""Benchmark: a 365-day backfill, `elt backfill` against the plain dbt command it runs.

On the time-partitioned project of `bench/microbatch_project.py` (the shipped project with
`fct_purchases` and `daily_revenue` made dbt microbatch models by day) and a year of generated
purchases in DuckDB, with a Prefect server already running (as on a deployment), each mode runs
as its own process over the same 365 days:

- `dbt build --select config.incremental_strategy:microbatch+ --event-time-start S
  --event-time-end E`: the plain dbt CLI, the baseline (what a user would run by hand);
- `elt backfill --start S --end E-1`: this project (the same dbt build in-process, a line and
  a batch record per day and model, rows per day counted, a days x models table artifact).

One warm-up run of each, then `--runs` interleaved rounds; medians of the wall time and of the
CPU time of the whole process tree, and their ratios to dbt's. Target: at most 1.10 each.

    .venv/bin/python bench/backfill.py [--runs 3] [--days 365]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dbt_overhead import report, rounds, run
from bench.microbatch_project import generate_raw, microbatch_project
from tests.servers import bench_server

BIN = Path(sys.executable).parent
TARGET = 1.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    first = datetime.now(UTC).date() - timedelta(days=args.days)
    after = first + timedelta(days=args.days)
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_server(Path(tmp) / "prefect-home", os.environ) as server,
    ):
        root = Path(tmp)
        project = microbatch_project(root, begin=first)
        warehouse = root / "warehouse" / "warehouse.duckdb"
        warehouse.parent.mkdir()
        generate_raw(warehouse, first, args.days, per_day=6)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DUCKDB_"))},
            "PREFECT_API_URL": server["PREFECT_API_URL"],
            "DUCKDB_PATH": str(warehouse),
            "DBT_PROJECT_DIR": str(project),
            "DBT_TARGET_PATH": str(root / "target"),
        }
        common = ["--project-dir", str(project), "--profiles-dir", str(project)]
        # what the daily runs keep: the views and dimensions the marts read
        run([str(BIN / "dbt"), "run", "-s", "staging", "dim_products", *common], env)
        modes = {
            "dbt build": [
                str(BIN / "dbt"), "build", *common,
                "--select", "config.incremental_strategy:microbatch+",
                "--event-time-start", first.isoformat(), "--event-time-end", after.isoformat(),
            ],
            "elt backfill": [
                str(BIN / "elt"), "backfill", "--start", first.isoformat(),
                "--end", (after - timedelta(days=1)).isoformat(),
            ],
        }  # fmt: skip
        print(f"{args.days}-day backfill of fct_purchases, daily_revenue (+ dim_users, tests)")
        times = rounds(modes, env, args.runs)
        wall, cpu = report("backfill", times, baseline="dbt build", ours="elt backfill")
    print(f"backfill/dbt median ratio: {wall:.2f} (wall), {cpu:.2f} (cpu); target {TARGET}")
    return 0 if wall <= TARGET and cpu <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
