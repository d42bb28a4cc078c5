"""Benchmark: what dbt costs through each orchestrator, as a user feels it: whole processes.

On generated DuckDB projects (a 100-model tree and a 120-model fan-out, each model with a test),
with a Prefect server already running (as on a deployment), each mode runs as its own process:

- `dbt build`: the plain dbt CLI, the baseline;
- `elt transform`: this project (dbt in-process, live progress, node table artifact, events);
- `elt transform --node-tasks`: prefect-dbt's PrefectDbtRunner, one Prefect task per node;
- `dagster asset materialize`: dagster-dbt's `@dbt_assets` (with `--dagster`, from parity/).

One warm-up run of each mode (partial parsing in its steady state, tables created), then
`--runs` interleaved rounds; medians and ratios to `dbt build`. The last line is the worst
project's `dbt_transform/cli median ratio: R` (target: at most 1.10).

    .venv/bin/python bench/dbt_overhead.py [--runs 3] [--skip-node-tasks] [--dagster]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate_dbt_project import generate
from tests.servers import prefect_server

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECTS = (("tree", 100), ("fanout", 120))
TARGET = 1.10
DAGSTER = REPO / "parity" / ".venv" / "bin" / "dagster"
DAGSTER_DEFS = REPO / "parity" / "dagster_dbt_defs.py"


def commands(project: Path, dagster: bool, node_tasks: bool) -> dict[str, list[str]]:
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    modes = {
        "dbt build": [str(BIN / "dbt"), "build", *where],
        "elt transform": [str(BIN / "elt"), "transform", *where],
    }
    if node_tasks:
        modes["elt transform --node-tasks"] = [*modes["elt transform"], "--node-tasks"]
    if dagster:
        modes["dagster asset materialize"] = [
            str(DAGSTER), "asset", "materialize", "-f", str(DAGSTER_DEFS), "--select", "*",
        ]  # fmt: skip
    return modes


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{proc.stdout[-2000:]}{proc.stderr}")
    return elapsed


def measure(
    shape: str, models: int, root: Path, api: str, runs: int, dagster: bool, node_tasks: bool
) -> dict[str, list[float]]:
    project = generate(root / f"{shape}-{models}", models, shape)
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "BENCH_DUCKDB_PATH": str(root / f"{shape}-{models}.duckdb"),
        "DBT_PROJECT_DIR": str(project),  # dagster's definitions read it
        "DAGSTER_HOME": str(root / "dagster-home"),
    }
    (root / "dagster-home").mkdir(exist_ok=True)
    modes = commands(project, dagster, node_tasks)
    if dagster:  # dagster-dbt loads a manifest: the project parsed once, as `dagster dev` would
        run([str(BIN / "dbt"), "parse", *modes["dbt build"][2:]], env)
    for command in modes.values():
        run(command, env)  # warm-up
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(runs):  # interleaved, so machine noise hits every mode alike
        for mode, command in modes.items():
            times[mode].append(run(command, env))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-node-tasks", action="store_true")
    parser.add_argument("--dagster", action="store_true", help="also dagster-dbt (parity/)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.dagster and not DAGSTER.exists():
        print("error: no Dagster environment: run `make parity` (it installs parity/)")
        return 2
    os.environ.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    results: dict[str, dict[str, list[float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="dbt-bench-") as tmp,
        prefect_server(Path(tmp) / "prefect-home", os.environ) as server,
    ):
        api = server["PREFECT_API_URL"]
        for shape, models in PROJECTS:
            name = f"{models}-model {shape}"
            print(f"{name}: {models} models + {models} tests, {args.runs} runs each", flush=True)
            times = measure(
                shape, models, Path(tmp), api, args.runs, args.dagster, not args.skip_node_tasks
            )
            results[name] = times
            cli = statistics.median(times["dbt build"])
            for mode, runs in times.items():
                median = statistics.median(runs)
                listed = ", ".join(f"{t:.2f}" for t in runs)
                print(f"  {mode:>28}: median {median:6.2f}s  {median / cli:5.2f}x  ({listed})")
    ratios = {
        name: statistics.median(t["elt transform"]) / statistics.median(t["dbt build"])
        for name, t in results.items()
    }
    if args.json:
        args.json.write_text(json.dumps({"times": results, "ratios": ratios}, indent=2))
    worst = max(ratios.values())
    print(f"dbt_transform/cli median ratio: {worst:.2f}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
