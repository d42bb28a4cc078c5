"""Benchmark: the local loop, `elt run` as `make run` runs it (everything installed), cold
(no local Prefect server running: the command starts it) and warm (the server running).

Prints, for each, where the time goes: before the pipeline's flow run starts (interpreter,
imports, configuration, and for the cold run the Prefect server's start), the sync, the raw
table check, dbt, the freshness check (each subflow's own run time, from the Prefect API), and
after the flow run (reporting, exit). Target: a warm run at most 25 s.

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
STEPS = {
    "airbyte-sync": "sync",
    "check-typed-raw-tables": "raw check",
    "dbt-transform": "dbt",
    "freshness-check": "freshness",
}


def elt(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return subprocess.run([ELT, *args], cwd=REPO, env=env, capture_output=True, text=True)


def seconds(run: dict) -> float:
    start, end = run["start_time"], run["end_time"]
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def one_run() -> dict[str, float]:
    started = time.time()
    proc = elt("run")
    total = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError(f"elt run failed:\n{proc.stderr[-2000:]}")
    state = json.loads((REPO / ".elt" / "prefect-server.json").read_text())
    api = f"http://127.0.0.1:{state['port']}/api"
    runs = httpx.post(f"{api}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 20})
    latest: dict[str, dict] = {}
    for run in runs.json():
        latest.setdefault(_flow_name(api, run), run)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="warm runs (after the cold one)")
    args = parser.parse_args()
    os.environ["ELT_LOCAL_SERVER"] = "1"
    elt("server", "stop")
    results = {"cold": [one_run()], "warm": [one_run() for _ in range(args.runs)]}
    labels = list(results["cold"][0])
    print(f"{'':>20} " + " ".join(f"{name:>10}" for name in results))
    for label in labels:
        cells = [statistics.median(r.get(label, 0.0) for r in runs) for runs in results.values()]
        print(f"{label:>20} " + " ".join(f"{c:9.1f}s" for c in cells))
    warm = statistics.median(r["total"] for r in results["warm"])
    print(f"warm make run: {warm:.1f}s (target <= {TARGET:g}s); `elt server stop` stops the server")
    return 0 if warm <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
