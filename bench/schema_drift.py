"""Benchmark: what the schema drift check adds to a pipeline run, and that clean runs say nothing.

Runs `elt run` (the whole process, the embedded default, as `make run` runs it) `--runs` times
in a row, each sync with another faker seed: every run must end Completed and report no drift.
Interleaved with the first of them, `--baseline` runs with the check off (DBT_SCHEMA_DRIFT=false).

The check's cost is what it adds to the run's dbt work: the `schema-drift` subflow plus the
`dbt-transform` subflow (each from the Prefect API, Running to end), against the
`dbt-transform` subflow of the runs without the check. (The check is the run's first dbt
invocation: it pays dbt's once-per-process start, about 0.8 s here, which the build then does
not.) Medians; target: at most 1 s. The whole processes' medians are printed beside.

    .venv/bin/python bench/schema_drift.py [--runs 20] [--baseline 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from bench.make_run import ELT, REPO, latest_runs, seconds

TARGET = 1.0


def run(seed: int, check: bool) -> tuple[float, float, float]:
    """One `elt run`: (whole process, the drift subflow, the dbt subflow), in seconds."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["DBT_SCHEMA_DRIFT"] = "true" if check else "false"
    started = time.time()
    proc = subprocess.run(
        [ELT, "run", "--seed", str(seed)], cwd=REPO, env=env, capture_output=True, text=True
    )
    total = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"elt run (seed {seed}) failed:\n{proc.stderr[-2000:]}")
    said = [line for line in proc.stdout.splitlines() if "schema drift" in line]
    if said:
        raise SystemExit(f"elt run (seed {seed}) reported drift on a clean sync: {said}")
    latest = latest_runs()
    drift = seconds(latest["schema-drift"]) if check else 0.0
    return total, drift, seconds(latest["dbt-transform"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=5)
    args = parser.parse_args()
    checked: list[tuple[float, float, float]] = []
    plain: list[tuple[float, float, float]] = []
    for i in range(args.runs + args.baseline):
        check = i % 2 == 0 or len(plain) >= args.baseline
        (checked if check else plain).append(run(1000 + i, check))
        total, drift, dbt = (checked if check else plain)[-1]
        what = f"check {drift:.2f}s + dbt {dbt:.2f}s" if check else f"no check, dbt {dbt:.2f}s"
        print(f"run {i + 1}: Completed, no drift; {what}; whole {total:.1f}s", flush=True)
    with_check = statistics.median(d + b for _, d, b in checked)
    without = statistics.median(b for _, _, b in plain)
    cost = with_check - without
    print(
        f"\n{len(checked)} clean runs with the check, none reported drift."
        f"\ncheck + dbt: median {with_check:.2f}s; dbt without the check: median {without:.2f}s"
        f"\nthe check adds {cost:.2f}s (the subflow alone: median "
        f"{statistics.median(d for _, d, _ in checked):.2f}s); target at most {TARGET:.0f}s: "
        + ("ok" if cost <= TARGET else "OVER")
        + f"\nwhole `elt run`: median {statistics.median(t for t, _, _ in checked):.1f}s with, "
        f"{statistics.median(t for t, _, _ in plain):.1f}s without"
    )
    return 0 if cost <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
