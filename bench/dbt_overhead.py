"""Benchmark: `dbt build` of a generated 100-model / 100-test DuckDB project three ways.

- cli: the plain `dbt build` process;
- dbt_transform: our flow (dbt in-process, live progress, node table artifact), timed from the
  flow call to its return with a Prefect API already running;
- prefect-dbt node tasks: the same flow with `node_tasks=True` (PrefectDbtRunner, one Prefect
  task per dbt node).

Each runs several times after one warm-up build (so partial parsing is in its steady state);
medians and ratios against the CLI are printed, ending with
`dbt_transform/cli median ratio: R` (target: at most 1.15).

    .venv/bin/python bench/dbt_overhead.py [--models 100] [--runs 3] [--skip-node-tasks]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate_dbt_project import generate

DBT = str(Path(sys.executable).with_name("dbt"))


def timed(action: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-node-tasks", action="store_true")
    args = parser.parse_args()

    os.environ.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    with tempfile.TemporaryDirectory(prefix="dbt-bench-") as tmp:
        project = generate(Path(tmp) / "project", args.models)
        os.environ["BENCH_DUCKDB_PATH"] = str(Path(tmp) / "bench.duckdb")
        cli = [DBT, "build", "--project-dir", str(project), "--profiles-dir", str(project)]

        def run_cli() -> None:
            subprocess.run(cli, check=True, capture_output=True)

        print(f"project: {args.models} models + {args.models} tests, {args.runs} runs each")
        run_cli()  # warm-up: parse once, create the tables

        from prefect.testing.utilities import prefect_test_harness

        from orchestration.flows.dbt_transform import dbt_transform

        results: dict[str, list[float]] = {}
        with prefect_test_harness(server_startup_timeout=180):
            flow_kwargs = {"project_dir": str(project), "profiles_dir": str(project)}
            dbt_transform(**flow_kwargs)  # warm-up inside the flow process
            # Interleave the modes so machine noise hits them alike.
            for _ in range(args.runs):
                results.setdefault("cli", []).extend(timed(run_cli, 1))
                results.setdefault("dbt_transform", []).extend(
                    timed(lambda: dbt_transform(**flow_kwargs), 1)
                )
                if not args.skip_node_tasks:
                    results.setdefault("prefect-dbt node tasks", []).extend(
                        timed(lambda: dbt_transform(**flow_kwargs, node_tasks=True), 1)
                    )

    cli_median = statistics.median(results["cli"])
    for mode, times in results.items():
        median = statistics.median(times)
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"{mode:>24}: median {median:6.2f}s  ratio {median / cli_median:4.2f}  ({runs})")
    ratio = statistics.median(results["dbt_transform"]) / cli_median
    print(f"dbt_transform/cli median ratio: {ratio:.2f}")
    return 0 if ratio <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
