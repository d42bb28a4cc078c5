"""Benchmark: what dbt costs through each orchestrator, as a user feels it: whole processes.

On generated DuckDB projects (a 100-model tree and a 120-model fan-out, each model with a test)
and on projects nobody here wrote (dbt-labs' jaffle_shop_duckdb; a project with a local package,
see `bench/outside_projects.py`, each run in its own folder with its own profile), with a
Prefect server already running (as on a deployment), each mode runs as its own process:

- `dbt build`: the plain dbt CLI, the baseline;
- `elt transform`: this project (dbt in-process, live progress, node table artifact, events);
- `elt transform --node-tasks`: prefect-dbt's PrefectDbtRunner, one Prefect task per node;
- `dagster asset materialize`: dagster-dbt's `@dbt_assets` (with `--dagster`, from parity/).

One warm-up run of each mode (partial parsing in its steady state, tables created), then
`--runs` interleaved rounds; medians of the wall time and of the CPU time of the whole process
tree (user + system), and their ratios to `dbt build`. The last lines are the worst project's
`dbt_transform/cli median ratio: R` (wall) and `... cpu ratio: R` (target: each at most 1.10).

    .venv/bin/python bench/dbt_overhead.py [--runs 3] [--skip-node-tasks] [--dagster]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate_dbt_project import generate
from bench.outside_projects import jaffle_shop, reports_with_package
from tests.servers import bench_server

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECTS = (("tree", 100), ("fanout", 120))
OUTSIDE = {"jaffle_shop_duckdb": jaffle_shop, "reports (local package)": reports_with_package}
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


@dataclass
class Times:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system of the process tree


def run(
    command: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    output: list[str] | None = None,
) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one whole process (and every child it waited for); its
    standard output appended to `output` when given."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{proc.stdout[-2000:]}{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if output is not None:
        output.append(proc.stdout + proc.stderr)
    return elapsed, cpu


def rounds(
    modes: dict[str, list[str]],
    env: dict[str, str],
    runs: int,
    cwd: Path | None = None,
    warm_up: bool = True,
) -> dict[str, Times]:
    for command in modes.values() if warm_up else ():
        run(command, env, cwd)  # warm-up
    times = {mode: Times() for mode in modes}
    for _ in range(runs):  # interleaved, so machine noise hits every mode alike
        for mode, command in modes.items():
            wall, cpu = run(command, env, cwd)
            times[mode].wall.append(wall)
            times[mode].cpu.append(cpu)
    return times


def measure(
    shape: str,
    models: int,
    root: Path,
    api: str,
    runs: int,
    dagster: bool,
    node_tasks: bool,
    warm_up: bool = True,
) -> dict[str, Times]:
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
    return rounds(modes, env, runs, warm_up=warm_up)


def measure_outside(
    name: str, root: Path, api: str, runs: int, warm_up: bool = True
) -> dict[str, Times]:
    """A project with its own profile, run from its folder as its users run it: `dbt deps`
    once, then `dbt build` beside `elt transform --project-dir .` (which runs deps itself
    only when packages changed)."""
    project = OUTSIDE[name](root / name.split()[0] / "project")
    env = {**os.environ, "PREFECT_API_URL": api}
    for variable in ("DUCKDB_PATH", "DBT_THREADS", "DBT_TARGET", "DBT_PROJECT_DIR"):
        env.pop(variable, None)
    if (project / "packages.yml").exists():
        run([str(BIN / "dbt"), "deps"], env, project)
    modes = {
        "dbt build": [str(BIN / "dbt"), "build"],
        "elt transform": [str(BIN / "elt"), "transform", "--project-dir", "."],
    }
    return rounds(modes, env, runs, project, warm_up=warm_up)


def report(
    name: str, times: dict[str, Times], baseline: str = "dbt build", ours: str = "elt transform"
) -> tuple[float, float]:
    """Print each mode's medians and ratios to `baseline`; returns `ours`' (wall, cpu) ratios."""
    cli = times[baseline]
    cli_wall, cli_cpu = statistics.median(cli.wall), statistics.median(cli.cpu)
    for mode, t in times.items():
        wall, cpu = statistics.median(t.wall), statistics.median(t.cpu)
        listed = ", ".join(f"{x:.2f}" for x in t.wall)
        print(
            f"  {mode:>28}: wall {wall:6.2f}s {wall / cli_wall:5.2f}x  "
            f"cpu {cpu:6.2f}s {cpu / cli_cpu:5.2f}x  (wall: {listed})",
            flush=True,
        )
    elt = times[ours]
    return statistics.median(elt.wall) / cli_wall, statistics.median(elt.cpu) / cli_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-node-tasks", action="store_true")
    parser.add_argument("--dagster", action="store_true", help="also dagster-dbt (parity/)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one run without warm-up of a 5-model tree and jaffle_shop: proves the script "
        "runs, measures nothing (tests/integration/test_bench_smoke.py)",
    )
    args = parser.parse_args()
    projects, outside = (PROJECTS, list(OUTSIDE)) if not args.smoke else ([("tree", 5)], [
        "jaffle_shop_duckdb"])  # fmt: skip
    if args.smoke:
        args.runs = 1
    if args.dagster and not DAGSTER.exists():
        print("error: no Dagster environment: run `make parity` (it installs parity/)")
        return 2
    os.environ.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    results: dict[str, dict[str, Times]] = {}
    ratios: dict[str, tuple[float, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="dbt-bench-") as tmp,
        bench_server(Path(tmp) / "prefect-home", os.environ) as server,
    ):
        api = server["PREFECT_API_URL"]
        for shape, models in projects:
            name = f"{models}-model {shape}"
            print(f"{name}: {models} models + {models} tests, {args.runs} runs each", flush=True)
            results[name] = measure(
                shape, models, Path(tmp), api, args.runs, args.dagster, not args.skip_node_tasks,
                warm_up=not args.smoke,
            )  # fmt: skip
            ratios[name] = report(name, results[name])
        for name in outside:
            print(f"{name}: its own profile and folder, {args.runs} runs each", flush=True)
            results[name] = measure_outside(name, Path(tmp), api, args.runs, not args.smoke)
            ratios[name] = report(name, results[name])
    if args.json:
        dumped = {n: {m: vars(t) for m, t in r.items()} for n, r in results.items()}
        args.json.write_text(json.dumps({"times": dumped, "ratios": ratios}, indent=2))
    worst_wall = max(wall for wall, _ in ratios.values())
    worst_cpu = max(cpu for _, cpu in ratios.values())
    print(f"dbt_transform/cli median ratio: {worst_wall:.2f}")
    print(f"dbt_transform/cli median cpu ratio: {worst_cpu:.2f}")
    return 0 if max(worst_wall, worst_cpu) <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
