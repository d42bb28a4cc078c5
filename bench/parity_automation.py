"""Parity: what a daily sync's new purchases rebuild, here and with Dagster's Declarative
Automation.

The shipped project over generated purchases (`bench/microbatch_project.py`), each side on its
own copy of one warehouse: a first build, then one day's sync (`bench/daily_changes.py`: new
purchases today, late, returned and moved ones of earlier days) into the purchases table only,
then what each side rebuilds for it:

- here: `elt transform --changed` (the build `elt run` runs): the models downstream of the
  tables with new rows, and in the time-partitioned marts only the days those rows touch;
- Dagster: `@dbt_assets` with `AutomationCondition.eager()` on every model
  (`parity/dagster_automation.py`): the sync recorded as a materialization of
  `airbyte/purchases`, the conditions evaluated as the automation sensor's tick would, and what
  they request materialized.

Reported per side: the models rebuilt for the sync, how the marts were rebuilt, the runs the
sync caused, and whether the marts equal a whole rebuild of the same raw data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from bench.daily_changes import checksums, daily_sync
from bench.microbatch_project import generate_raw, microbatch_project
from bench.parity_backfill import runs_created_since, timed
from tests.servers import bench_server

REPO = Path(__file__).resolve().parents[1]
PARITY_PYTHON = REPO / "parity" / ".venv" / "bin" / "python"
SCRIPT = REPO / "parity" / "dagster_automation.py"
BIN = Path(sys.executable).parent
SIDES = ("elt run's build (elt transform --changed)", "Dagster Declarative Automation (eager)")


def run(days: int = 365) -> dict[str, dict[str, str]]:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = microbatch_project(root, begin=first)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DUCKDB_"))}
        prepared = root / "prepared.duckdb"
        generate_raw(prepared, first, days, per_day=6)

        def copy(side: str) -> Path:
            path = root / side / "warehouse.duckdb"
            path.parent.mkdir()
            shutil.copyfile(prepared, path)
            return path

        def sync(warehouse: Path) -> None:
            with duckdb.connect(str(warehouse)) as db:
                daily_sync(db, 0, today, 90)

        whole = copy("whole")
        sync(whole)
        timed([str(BIN / "dbt"), "build", "--project-dir", str(project), "--profiles-dir",
               str(project), "--target-path", str(root / "whole-target"),
               "--vars", "{marts_whole: true}"], {**base, "DUCKDB_PATH": str(whole)})  # fmt: skip
        expected = checksums(whole)

        results: dict[str, dict[str, str]] = {}
        ours = copy("ours")
        target = root / "ours-target"
        with bench_server(root / "prefect-home", base) as server:
            env = {**server, "DUCKDB_PATH": str(ours), "DBT_PROJECT_DIR": str(project),
                   "DBT_TARGET_PATH": str(target)}  # fmt: skip
            timed([str(BIN / "elt"), "transform", "--changed"], env)
            sync(ours)
            since = datetime.now(UTC).isoformat()
            out = subprocess.run([str(BIN / "elt"), "transform", "--changed"], env=env,
                                 capture_output=True, text=True, check=True)  # fmt: skip
            runs = len(runs_created_since(server["PREFECT_API_URL"], since))
        built = models_built(target)
        replaced = re.search(r"Time-partitioned marts rebuild (\d+) day", out.stdout + out.stderr)
        results[SIDES[0]] = {
            "models rebuilt for the sync": f"{len(built)}: {', '.join(built)}",
            "time-partitioned marts": f"{replaced.group(1)} of {days} days"
            if replaced
            else "whole",
            "runs for the sync": str(runs),
            "marts = whole rebuild": "yes" if checksums(ours) == expected else "NO",
        }

        theirs = copy("dagster")
        home = root / "dagster-home"
        home.mkdir()
        env = {**base, "DUCKDB_PATH": str(theirs), "DBT_PROJECT_DIR": str(project),
               "DAGSTER_HOME": str(home)}  # fmt: skip
        timed([str(BIN / "dbt"), "parse", "--project-dir", str(project), "--profiles-dir",
               str(project), "--vars", "{marts_whole: true}"], env)  # fmt: skip
        said = dagster(["first"], env)
        sync(theirs)
        after = dagster(["after-sync"], env)
        results[SIDES[1]] = {
            "models rebuilt for the sync": f"{len(after['requested'])}: "
            + ", ".join(after["requested"]),
            "time-partitioned marts": "whole",
            "runs for the sync": str(after["runs"] - said["runs"]),
            "marts = whole rebuild": "yes" if checksums(theirs) == expected else "NO",
        }
    return results


def models_built(target: Path) -> list[str]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sorted(
        r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")
    )


def dagster(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([str(PARITY_PYTHON), str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, cwd=env["DAGSTER_HOME"])  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"dagster_automation.py {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


__all__ = ["SIDES", "run"]
