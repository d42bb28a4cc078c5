"""`make parity`, freshness: what each side does on a stale table, on the same warehouse.

One real `elt run` (embedded faker -> DuckDB -> dbt build) fills a warehouse and records its
builds on a real Prefect server, where `elt automations apply` points the breach alert at a
webhook receiver on loopback. Then two scenarios, in order:

- fresh: the tables as just synced;
- stale: `raw.users` aged 48 h; its SLA is the dbt source default, 25 h.

Ours: `elt freshness` (dbt source freshness and the marts' deadlines; a breach fails the run,
and the automation posts to the webhook). Dagster: an observable source asset reporting the
table's newest `_airbyte_extracted_at`, and `build_last_update_freshness_checks` with the same
25 h (parity/dagster_freshness.py). Each cell: the check's verdict, the run's outcome, what the
webhook received, the whole process's time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tests.servers import WebhookReceiver, prefect_server

REPO = Path(__file__).resolve().parents[1]
PARITY_PYTHON = REPO / "parity" / ".venv" / "bin" / "python"
DAGSTER_CHECK = REPO / "parity" / "dagster_freshness.py"
ELT = str(Path(sys.executable).with_name("elt"))
TABLE = "raw.users"
SLA_HOURS = 25  # users declares no SLA of its own: the source default (FRESHNESS_THRESHOLD_HOURS)
SCENARIOS = {"fresh (just synced)": 0, f"stale ({TABLE} 48 h old, SLA {SLA_HOURS} h)": 48}
SIDES = ("elt freshness", "Dagster last-update freshness check")
ALERT_WAIT_S = 90.0  # a breach's webhook post arrives within this (Prefect's automations)
QUIET_S = 5.0  # after which nothing more is expected


@dataclass
class Outcome:
    verdict: str
    run: str
    alert: str  # what reached the webhook, or why nothing could
    seconds: float

    def cell(self) -> str:
        return f"{self.verdict}; run {self.run}; {self.alert} ({self.seconds:.1f} s)"


def age(warehouse: Path, hours: int) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            f"update {TABLE} set _airbyte_extracted_at = "
            f"_airbyte_extracted_at - interval {hours} hour"
        )


def elt(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ELT, *args], env=env, cwd=cwd, capture_output=True, text=True)


def ours(env: dict[str, str], cwd: Path, receiver: WebhookReceiver) -> Outcome:
    before = len(receiver.calls)
    started = time.perf_counter()
    proc = elt("freshness", env=env, cwd=cwd)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"elt freshness failed unexpectedly:\n{proc.stdout}{proc.stderr}")
    breached = proc.returncode == 1
    if breached:
        receiver.wait_for(before + 1, ALERT_WAIT_S)
    time.sleep(QUIET_S)  # any other post (any post at all, when nothing breached) arrives by now
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    verdict = f"breached: {errors[0][len('error: ') :]}" if breached else "every SLA met"
    posts = len(receiver.calls) - before
    return Outcome(
        verdict, "failed" if breached else "completed", f"webhook posts: {posts}", seconds
    )


def dagster(warehouse: Path) -> Outcome:
    started = time.perf_counter()
    proc = subprocess.run(
        [str(PARITY_PYTHON), str(DAGSTER_CHECK), str(warehouse), TABLE, str(SLA_HOURS)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the Dagster freshness check did not run:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    verdict = (
        "passed" if result["passed"] else f"failed ({result['severity']}): {result['description']}"
    )
    run = "succeeded" if result["run_success"] else "failed"
    # Dagster OSS sends nothing for a failed check: alerts are Dagster+ alert policies, or a
    # sensor the user writes (dagster docs, "Asset health monitoring": Alerting).
    alert = (
        "no alert (open source Dagster has none built in)" if not result["passed"] else "no alert"
    )
    return Outcome(verdict, run, alert, seconds)


def run() -> dict[str, dict[str, Outcome]]:
    results: dict[str, dict[str, Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="parity-freshness-") as tmp:
        work = Path(tmp)
        warehouse = work / "warehouse.duckdb"
        receiver = WebhookReceiver()
        base = {
            **os.environ,
            "DUCKDB_PATH": str(warehouse),
            "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
            "ELT_HOME": str(REPO / ".elt"),  # the connector `make run` installed
            "FAKER_COUNT": "200",
            "ALERT_WEBHOOK_URL": receiver.url,
        }
        try:
            with prefect_server(work / "prefect-home", base) as env:
                for command in (("run",), ("automations", "apply")):
                    proc = elt(*command, env=env, cwd=work)
                    if proc.returncode != 0:
                        raise RuntimeError(f"elt {' '.join(command)}:\n{proc.stdout}{proc.stderr}")
                for name, hours in SCENARIOS.items():
                    if hours:
                        age(warehouse, hours)
                    results[name] = {
                        SIDES[0]: ours(env, work, receiver),
                        SIDES[1]: dagster(warehouse),
                    }
        finally:
            receiver.server.shutdown()
    return results
