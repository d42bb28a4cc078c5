"""`make parity`: each piece beside its Dagster equivalent, on the same inputs, in one table.

- dbt: whole processes on two generated projects (bench/dbt_overhead.py): plain `dbt build`,
  `elt transform`, prefect-dbt per-node tasks, `dagster asset materialize` of `@dbt_assets`;
- Airbyte: this project's sync and dagster-airbyte's `AirbyteWorkspace` against the same fake
  Airbyte server and faults (bench/parity_airbyte.py);
- S3: this project's sensor and a Dagster sensor over dagster-aws `get_objects` on one moto
  bucket: correctness scenarios and one tick over a large prefix (bench/parity_s3.py);
- freshness: `elt freshness` with its alert automation and a Dagster last-update freshness
  check, on one warehouse, fresh then stale (bench/parity_freshness.py);
- lineage: the edges of this project's OpenLineage events and of Dagster's asset graph
  (`@dbt_assets` + dagster-airbyte's specs), against the project's edges written by hand
  (bench/parity_lineage.py);
- backfill: 365 days of the time-partitioned marts (dbt microbatch), `elt backfill` and
  Dagster's partitioned `@dbt_assets` with a single-run backfill policy: time, runs created,
  and whether the marts equal a whole rebuild (bench/parity_backfill.py);
- automation: what one daily sync's new purchases rebuild, `elt run`'s change-driven build and
  Dagster's Declarative Automation (`eager()`): models, marts, runs, and whether the marts
  equal a whole rebuild (bench/parity_automation.py).

Dagster runs from its own environment, parity/ (its own lock; `make parity` installs it).
Prints the table and writes it, with the date, versions and machine, to parity/results.md.

    .venv/bin/python bench/parity.py [--runs 3] [--s3-objects 100000]
        [--skip-dbt] [--skip-airbyte] [--skip-s3] [--skip-freshness] [--skip-lineage]
        [--skip-backfill] [--skip-automation]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    parity_airbyte,
    parity_automation,
    parity_backfill,
    parity_freshness,
    parity_lineage,
    parity_s3,
)
from bench.dbt_overhead import PROJECTS, measure
from tests.servers import bench_server

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "parity" / "results.md"
OURS = ("prefect", "prefect-dbt", "dbt-core", "dbt-duckdb", "moto")
THEIRS = ("dagster", "dagster-dbt", "dagster-airbyte", "dagster-aws", "dbt-core")


def dagster_versions() -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in %r}))"
    out = subprocess.run(
        [str(parity_s3.PARITY_PYTHON), "-c", code % (THEIRS,)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def dbt_rows(
    runs: int, projects: Sequence[tuple[str, int]] = PROJECTS, warm_up: bool = True
) -> list[str]:
    rows = [
        "| project | mode | wall median (s) | vs `dbt build` | CPU median (s) | vs `dbt build` "
        "| wall runs (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="parity-dbt-") as tmp,
        bench_server(Path(tmp) / "prefect-home", os.environ) as server,
    ):
        api = server["PREFECT_API_URL"]
        for shape, models in projects:
            print(f"dbt: {models}-model {shape} ...", flush=True)
            times = measure(
                shape, models, Path(tmp), api, runs, dagster=True, node_tasks=True, warm_up=warm_up
            )
            cli = times["dbt build"]
            cli_wall, cli_cpu = statistics.median(cli.wall), statistics.median(cli.cpu)
            for mode, measured in times.items():
                wall, cpu = statistics.median(measured.wall), statistics.median(measured.cpu)
                listed = ", ".join(f"{s:.1f}" for s in measured.wall)
                rows.append(
                    f"| {models}-model {shape} | `{mode}` | {wall:.1f} | {wall / cli_wall:.2f}x "
                    f"| {cpu:.1f} | {cpu / cli_cpu:.2f}x | {listed} |"
                )
    return rows


def s3_rows(objects: int) -> list[str]:
    print("S3: correctness scenarios" + (f", then {objects:,} objects" if objects else ""))
    results, sizes = parity_s3.run(objects)
    rows = scenario_table(results, parity_s3.SIDES)
    if sizes:
        rows += ["", f"One tick over {objects:,} objects + 10 new (moto on loopback):", ""]
        rows += ["| | list requests | time | new objects found |", "|---|---|---|---|"]
        for side, (lists, seconds, found) in sizes.items():
            rows.append(f"| {side} | {lists} | {seconds:.1f} s | {found}/10 |")
    return rows


def scenario_table(results: Mapping[str, Mapping[str, Any]], sides: Sequence[str]) -> list[str]:
    """A markdown table: a row per scenario, a column per side, each cell its outcome's `cell()`."""
    rows = ["| scenario | " + " | ".join(sides) + " |", "|---" * (len(sides) + 1) + "|"]
    for name, by_side in results.items():
        rows.append(f"| {name} | " + " | ".join(by_side[s].cell() for s in sides) + " |")
    return rows


def airbyte_rows(smoke: bool = False) -> list[str]:
    print("Airbyte: scenarios against the fake Airbyte server", flush=True)
    logging.getLogger("elt").setLevel(logging.ERROR)  # the table says what happened
    scenarios = parity_airbyte.SCENARIOS[:1] if smoke else parity_airbyte.SCENARIOS
    return scenario_table(parity_airbyte.run(scenarios), parity_airbyte.SIDES)


def freshness_rows() -> list[str]:
    print("Freshness: one warehouse, fresh then stale", flush=True)
    return scenario_table(parity_freshness.run(), parity_freshness.SIDES)


def lineage_rows() -> list[str]:
    print("Lineage: the shipped project's graph on each side", flush=True)
    return side_rows(parity_lineage.run())


def backfill_rows(days: int = 365) -> list[str]:
    print(f"Backfill: {days} days of the time-partitioned marts on each side", flush=True)
    return side_rows(parity_backfill.run(days))


def automation_rows(days: int = 365) -> list[str]:
    print(f"Automation: one daily sync into {days} days of purchases on each side", flush=True)
    return side_rows(parity_automation.run(days))


def side_rows(results: Mapping[str, Mapping[str, str]]) -> list[str]:
    columns = list(next(iter(results.values())))
    rows = ["| side | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for side, cells in results.items():
        rows.append(f"| {side} | " + " | ".join(cells[c] for c in columns) + " |")
    return rows


def earlier_sections() -> dict[str, list[str]]:
    """The sections of the last results file, by the first word of their title, each kept
    with the run it came from (a section skipped this time is not thrown away)."""
    if not RESULTS.exists():
        return {}
    text = RESULTS.read_text()
    when = next((line for line in text.splitlines() if line.startswith("Run ")), "")
    out = {}
    for block in text.split("\n## ")[1:]:
        title, _, body = block.partition("\n")
        body_lines = body.strip("\n").splitlines()
        dated = body_lines[:1] and body_lines[0].startswith(("(Not run", "Re-run"))
        note = (
            [] if dated else [f"(Not run this time: from the {when[4:].split(' on ')[0]} run.)", ""]
        )
        out[title.split(":")[0].split(",")[0].split()[0]] = [f"## {title}", "", *note, *body_lines]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3-objects", type=int, default=100_000)
    parser.add_argument("--skip-dbt", action="store_true")
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-airbyte", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--skip-lineage", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-automation", action="store_true")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every piece at its smallest (one run of a 5-model project without warm-up, "
        "one Airbyte scenario, no S3 scale part, 3 backfill days), written to --results: "
        "proves the script runs, measures nothing (tests/integration/test_bench_smoke.py)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    projects: Sequence[tuple[str, int]] = PROJECTS
    days = 365
    if args.smoke:
        args.runs, args.s3_objects, projects, days = 1, 0, [("tree", 5)], 3
    if not parity_s3.PARITY_PYTHON.exists():
        print("error: no Dagster environment in parity/.venv: run `make parity`")
        return 2
    os.environ.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    theirs = dagster_versions()
    lines = [
        "# `make parity` results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "Here: " + ", ".join(f"{p} {version(p)}" for p in OURS) + ".",
        "Dagster side (parity/): " + ", ".join(f"{p} {v}" for p, v in theirs.items()) + ".",
        "Command: `make parity` (bench/parity.py).",
    ]
    sections = [
        ("dbt", f"dbt, whole processes ({args.runs} interleaved runs, medians)",
         args.skip_dbt, lambda: dbt_rows(args.runs, projects, warm_up=not args.smoke)),
        ("Airbyte", "Airbyte: the same fake server, the same faults",
         args.skip_airbyte, lambda: airbyte_rows(args.smoke)),
        ("S3", "S3 landing sensor: what the ticks after a write requested",
         args.skip_s3, lambda: s3_rows(args.s3_objects)),
        ("Freshness", "Freshness: a stale table", args.skip_freshness, freshness_rows),
        ("Lineage", "Lineage: the shipped project's graph, one Airbyte connection",
         args.skip_lineage, lineage_rows),
        ("Backfill", f"Backfill: {days} days of the time-partitioned marts (dbt microbatch)",
         args.skip_backfill, lambda: backfill_rows(days)),
        ("Automation", f"Automation: what one daily sync rebuilds ({days} days of purchases)",
         args.skip_automation, lambda: automation_rows(days)),
    ]  # fmt: skip
    earlier = {} if args.smoke else earlier_sections()
    for prefix, title, skipped, rows in sections:
        if not skipped:
            lines += ["", f"## {title}", "", *rows()]
        elif prefix in earlier:  # a section not run this time keeps its last results
            lines += ["", *earlier[prefix]]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    args.results.write_text(text)
    print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
