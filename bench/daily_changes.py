"""Benchmark: a daily run that costs what changed, against the whole rebuild and dbt's own
`source_status:fresher+`, on years of purchases.

The shipped project (its marts time-partitioned by day) over a generated history in DuckDB
(`--purchases` spread over `--years`, 1,000 users, 100 products), each mode on its own copy of
the warehouse, a Prefect server up (as on a deployment). Each round, the same daily sync lands
in every copy: 0.5% new purchases today, and 0.1% late or changed ones (a third each: late
rows, returns, purchases whose event time moved a few days), of days within `--spread` days,
a hundredth of them anywhere in the history. Then each mode runs as its own process:

- `elt transform` - the whole rebuild (what every daily run cost before);
- `dbt fresher+` - `dbt source freshness`, then `dbt build --select source_status:fresher+`
  against the last round's freshness results (dbt Core's own answer; its marts whole);
- `elt transform --changed` - what `elt run` builds: only what the new rows reach, and in the
  time-partitioned marts only the days they touch.

Reported per mode: the medians of wall and CPU time of the whole process (DuckDB works in the
process, so its CPU is the warehouse's), the dbt node time of the build (models and tests, from
`run_results.json`) and the models built; then a run with nothing new, and whether the marts of
all three warehouses are identical (checksums). Goal: the change-driven run at most 5% of the
whole rebuild's warehouse time.

    .venv/bin/python bench/daily_changes.py [--purchases 1000000] [--years 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dbt_overhead import run
from bench.microbatch_project import generate_raw, mart_checksums, microbatch_project
from tests.servers import bench_server

BIN = Path(sys.executable).parent
MARTS = ("dim_users", "dim_products", "fct_purchases", "daily_revenue")
GOAL = 0.05
CHANGED = "elt transform --changed"


def daily_sync(db: duckdb.DuckDBPyConnection, round_no: int, today: date, spread: int) -> int:
    """One day's sync into raw.purchases; the same rows in every warehouse (no randomness but a
    hash of the id and the round). Returns the rows added."""
    (total, top) = db.execute("select count(distinct id), max(id) from raw.purchases").fetchone()
    new, changed = max(1, total * 5 // 1000), max(3, total // 1000)
    loaded = "now() at time zone 'UTC' as _airbyte_extracted_at"
    db.execute(
        "insert into raw.purchases by name select ? + i as id, (i % 1000 + 1)::varchar as"
        " user_id, (i % 100 + 1)::bigint as product_id, ?::timestamp + to_minutes(i % 1440) as"
        f" purchased_at, ?::timestamp as created_at, ?::timestamp as updated_at, {loaded}"
        " from range(?) r(i)",
        [top + 1, today, today, today, new],
    )
    # how many days back: within `spread` days, one in a hundred anywhere in the history
    back = f"case when hash(i, {round_no}) % 100 = 0 then 1 + hash(i, {round_no}) % 3650" \
           f" else 1 + hash(i, {round_no}) % {spread} end"  # fmt: skip
    db.execute(
        "insert into raw.purchases by name select ? + i as id, '1' as user_id, 1::bigint as"
        f" product_id, ?::timestamp - to_days(({back})::integer) + interval 10 hour as"
        f" purchased_at, ?::timestamp as updated_at, {loaded} from range(?) r(i)",
        [top + 1 + new, today, today, changed // 3],
    )
    for change in (
        "purchased_at, purchased_at + interval 1 day as returned_at",  # returned
        f"purchased_at - to_days((1 + hash(id, {round_no}) % 5)::integer) as purchased_at",  # moved
    ):
        db.execute(
            f"insert into raw.purchases by name select id, user_id, product_id, {change},"
            f" ?::timestamp + interval 1 day as updated_at, {loaded} from ("
            "  select * from raw.purchases where id <= ?"
            f"  and purchased_at >= ?::timestamp - to_days(({back.replace('i,', 'id,')})::integer)"
            f"  qualify row_number() over (partition by id order by updated_at desc) = 1"
            f"  order by hash(id, {round_no}, '{change[:8]}') limit ?)",
            [today, top, today, changed // 3],
        )
    return new + changed // 3 * 3


def node_seconds(target: Path) -> tuple[float, int, list[tuple[float, str]]]:
    """The build's dbt node time (models and tests), the models built and the costliest nodes,
    from its run_results.json."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    times = sorted(((r.get("execution_time") or 0, r["unique_id"]) for r in results), reverse=True)
    models = sum(1 for r in results if r["unique_id"].startswith("model."))
    return sum(t for t, _ in times), models, times[:4]


def days_replaced(said: str) -> int:
    """The days the change-driven build's marts replaced, from its log line; -1 when whole."""
    found = re.search(r"Time-partitioned marts rebuild (\d+) day", said)
    return int(found.group(1)) if found else -1


def checksums(warehouse: Path) -> list[str]:
    return mart_checksums(warehouse, MARTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spread", type=int, default=90, help="days back of most late rows")
    args = parser.parse_args()
    days = args.years * 365
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days)
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_server(Path(tmp) / "prefect-home", os.environ) as server,
    ):
        root = Path(tmp)
        project = microbatch_project(root, begin=first)
        source = root / "source.duckdb"
        generate_raw(source, first, days, per_day=max(1, args.purchases // days))
        with duckdb.connect(str(source)) as db:
            (purchases, days_held) = db.execute(
                "select count(*), count(distinct purchased_at::date) from raw.purchases"
            ).fetchone()
        common = ["--project-dir", str(project), "--profiles-dir", str(project)]
        modes: dict[str, tuple[list[str], Path]] = {}
        envs: dict[str, dict[str, str]] = {}
        for name in ("elt transform", "dbt fresher+", CHANGED):
            home = root / name.replace(" ", "_").replace("+", "p").replace("--", "")
            home.mkdir()
            shutil.copyfile(source, home / "warehouse.duckdb")
            envs[name] = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DUCKDB_"))},
                "PREFECT_API_URL": server["PREFECT_API_URL"],
                "DUCKDB_PATH": str(home / "warehouse.duckdb"),
                "DBT_PROJECT_DIR": str(project),
                "DBT_TARGET_PATH": str(home / "target"),
            }
            modes[name] = ([], home)
        state = modes["dbt fresher+"][1] / "state"
        fresher_target = modes["dbt fresher+"][1] / "target"
        dbt = [str(BIN / "dbt"), *common, "--vars", "{marts_whole: true}"]
        freshness = shlex.join([dbt[0], "source", "freshness", *dbt[1:]])
        build = shlex.join([dbt[0], "build", *dbt[1:]])
        keep = f"mkdir -p {state} && cp {fresher_target / 'sources.json'} {state}/"
        fresher = f"{freshness}; {build} --select source_status:fresher+ --state {state} && {keep}"
        commands = {
            "elt transform": [str(BIN / "elt"), "transform"],
            "dbt fresher+": ["sh", "-c", fresher],
            CHANGED: [str(BIN / "elt"), "transform", "--changed"],
        }
        # the first build of each: everything (dbt's freshness results kept as its state)
        run(commands["elt transform"], envs["elt transform"])
        first_fresher = f"{build} && {freshness}; {keep}"
        run(["sh", "-c", first_fresher], envs["dbt fresher+"])
        run(commands[CHANGED], envs[CHANGED])
        print(
            f"{purchases:,} purchases over {args.years} years; each day's sync: 0.5% new,"
            f" 0.1% late or changed (within {args.spread} days, 1% anywhere)",
            flush=True,
        )
        measured: dict[str, dict[str, list[float]]] = {
            m: {"wall": [], "cpu": [], "nodes": [], "models": []} for m in commands
        }
        synced = 0
        costliest: dict[str, list[tuple[float, str]]] = {}
        days: list[int] = []
        for round_no in range(args.runs):
            for name in commands:
                with duckdb.connect(envs[name]["DUCKDB_PATH"]) as db:
                    synced = daily_sync(db, round_no, today, args.spread)
            for name, command in commands.items():
                said: list[str] = []
                wall, cpu = run(command, envs[name], output=said)
                if name == CHANGED:
                    days.append(days_replaced(said[0]))
                seconds, models, costliest[name] = node_seconds(Path(envs[name]["DBT_TARGET_PATH"]))
                for key, value in zip(
                    ("wall", "cpu", "nodes", "models"), (wall, cpu, seconds, models), strict=True
                ):
                    measured[name][key].append(value)
        print(f"  rows synced a day: {synced:,}; medians of {args.runs} interleaved rounds:")
        whole = {k: statistics.median(v) for k, v in measured["elt transform"].items()}
        for name, values in measured.items():
            m = {k: statistics.median(v) for k, v in values.items()}
            print(
                f"  {name:>24}: wall {m['wall']:6.2f}s  cpu {m['cpu']:6.2f}s"
                f" ({m['cpu'] / whole['cpu']:5.1%} of the whole rebuild's)"
                f"  dbt node time {m['nodes']:6.2f}s ({m['nodes'] / whole['nodes']:5.1%})"
                f"  models built {int(m['models'])}",
                flush=True,
            )
        print(f"  days its time-partitioned marts replaced each round: {days} of {days_held}")
        spent = ", ".join(f"{uid.split('.')[2]} {t:.2f}s" for t, uid in costliest[CHANGED])
        print(f"  where the change-driven build's node time went (last round): {spent}")
        quiet_wall, _ = run(commands[CHANGED], envs[CHANGED])
        _, quiet_models, _ = node_seconds(Path(envs[CHANGED]["DBT_TARGET_PATH"]))
        print(
            f"  nothing new: elt transform --changed {quiet_wall:.2f}s, {quiet_models} models built"
        )
        sums = {name: checksums(Path(env["DUCKDB_PATH"])) for name, env in envs.items()}
        identical = len({tuple(s) for s in sums.values()}) == 1
        print(f"  marts identical in all three warehouses: {'yes' if identical else 'NO'}")
        changed_share = statistics.median(measured[CHANGED]["nodes"]) / whole["nodes"]
        print(f"changed/whole dbt node time: {changed_share:.3f}; goal {GOAL}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
