"""Benchmark: the local loop, `elt run` as `make run` runs it (everything installed), cold
(no local Prefect server running: the command starts it) and warm (the server running).

Prints, for each, where the time goes: before the pipeline's flow run starts (interpreter,
imports, configuration, and for the cold run the Prefect server's start), the sync, the raw
table check, dbt, the freshness check (each subflow's own run time, from the Prefect API), and
after the flow run (reporting, exit). Target: a warm run at most 25 s.

Then, on the warm server, every other command's fixed cost: the whole process's time minus its
work. The work of a command that wraps dbt is the plain dbt command's whole process (what the
user would run instead); of `elt sync`, its flow run's own time (Running to end, from the Prefect
API); a command that runs no flow is all fixed cost. Target: at most 3 s.

    .venv/bin/python bench/make_run.py [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
ELT = str(Path(sys.executable).with_name("elt"))
TARGET = 25.0
FIXED_TARGET = 3.0
DBT = str(Path(sys.executable).with_name("dbt"))
# Commands that run one flow (its name on the API), with the plain dbt command they wrap.
FLOW_COMMANDS = {
    ("sync",): ("airbyte-sync", None),
    ("transform",): ("dbt-transform", ("build", "--vars", "{marts_whole: true}")),  # as elt's
    ("freshness",): ("freshness-check", ("source", "freshness")),
}
OTHER_COMMANDS = (("server", "status"), ("limits", "show"), ("automations", "show"))
STEPS = {
    "airbyte-sync": "sync",
    "check-typed-raw-tables": "raw check",
    "schema-drift": "schema drift",
    "dbt-transform": "dbt",
    "freshness-check": "freshness",
}


def elt(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return subprocess.run([ELT, *args], cwd=REPO, env=env, capture_output=True, text=True)


def seconds(run: dict) -> float:
    start, end = run["start_time"], run["end_time"]
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def timed(*args: str) -> float:
    started = time.time()
    proc = elt(*args)
    if proc.returncode != 0:
        raise RuntimeError(f"elt {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.time() - started


def latest_runs() -> dict[str, dict]:
    """The newest flow run of each flow on the local server (of ELT_HOME, as `elt` finds it)."""
    home = REPO / os.environ.get("ELT_HOME", ".elt")  # relative to the repository, or absolute
    state = json.loads((home / "prefect-server.json").read_text())
    api = f"http://127.0.0.1:{state['port']}/api"
    runs = httpx.post(f"{api}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 20})
    latest: dict[str, dict] = {}
    for run in runs.json():
        latest.setdefault(_flow_name(api, run), run)
    return latest


def one_run() -> dict[str, float]:
    started = time.time()
    total = timed("run")
    latest = latest_runs()
    pipeline = latest["full-pipeline"]
    breakdown = {
        "before the flow run": datetime.fromisoformat(pipeline["start_time"]).timestamp() - started
    }
    for flow_name, label in STEPS.items():
        if flow_name in latest:
            breakdown[label] = seconds(latest[flow_name])
    breakdown["after the flow run"] = (
        started + total - datetime.fromisoformat(pipeline["end_time"]).timestamp()
    )
    breakdown["total"] = total
    return breakdown


_flows: dict[str, str] = {}


def _flow_name(api: str, run: dict) -> str:
    if run["flow_id"] not in _flows:
        _flows[run["flow_id"]] = httpx.get(f"{api}/flows/{run['flow_id']}").json()["name"]
    return _flows[run["flow_id"]]


def plain_dbt(*args: str) -> float:
    """The same dbt command, plain, on the same project and warehouse (the profile's defaults)."""
    started = time.time()
    project = REPO / "dbt_project"
    proc = subprocess.run([DBT, *args], cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-2000:]}")
    return time.time() - started


def fixed_costs(smoke: bool = False) -> dict[str, tuple[float, str]]:
    """Each command's time beyond its work, and what the work was (module docstring); with
    `smoke`, of one command that wraps dbt and one that runs no flow."""
    costs = {}
    flow_commands = list(FLOW_COMMANDS.items())[1:2] if smoke else FLOW_COMMANDS.items()
    for command, (flow_name, wrapped) in flow_commands:
        total = timed(*command)
        if wrapped:
            work, what = plain_dbt(*wrapped), f"`dbt {' '.join(wrapped)}`"
        else:
            work, what = seconds(latest_runs()[flow_name]), "its flow run"
        costs[f"elt {' '.join(command)}"] = (total - work, f"{total:.1f}s - {work:.1f}s ({what})")
    for command in OTHER_COMMANDS[:1] if smoke else OTHER_COMMANDS:
        costs[f"elt {' '.join(command)}"] = (timed(*command), "no flow: all of it")
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=2, help="warm runs (after the cold one; 0: none)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the cold run only, and the fixed cost of one command of each kind: proves the "
        "script runs (tests/integration/test_bench_smoke.py, with its own ELT_HOME)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.runs = 0
    os.environ["ELT_LOCAL_SERVER"] = "1"
    elt("server", "stop")
    results = {"cold": [one_run()], "warm": [one_run() for _ in range(args.runs)]}
    results = {name: runs for name, runs in results.items() if runs}
    labels = list(results["cold"][0])
    print(f"{'':>20} " + " ".join(f"{name:>10}" for name in results))
    for label in labels:
        cells = [statistics.median(r.get(label, 0.0) for r in runs) for runs in results.values()]
        print(f"{label:>20} " + " ".join(f"{c:9.1f}s" for c in cells))
    warm = statistics.median(r["total"] for r in results["warm"]) if "warm" in results else None
    if warm is None:
        print("warm make run: not run (--runs 0)")
    else:
        print(f"warm make run: {warm:.1f}s (target <= {TARGET:g}s)")
    costs = fixed_costs(smoke=args.smoke)
    print(f"fixed cost per command (process time beyond its work; target <= {FIXED_TARGET:g}s):")
    for command, (cost, how) in costs.items():
        print(f"{command:>20} {cost:9.1f}s  {how}")
    print("`elt server stop` stops the local server")
    worst = max(cost for cost, _ in costs.values())
    return 0 if (warm is None or warm <= TARGET) and worst <= FIXED_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
