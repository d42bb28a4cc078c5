"""Every script in bench/ run at its smallest, so none breaks unseen: each must run to its
report (their targets are for the full size, so only the report is checked, never a number).

- the benchmarks `make bench` runs, and the others (backfill, schema drift, the local loop);
- `make parity`, piece by piece (bench/parity.py --smoke with the other pieces skipped; the
  pieces are bench/parity_*.py and dbt_overhead): each runs both sides, ours and Dagster's
  (from parity/.venv, which the session prepares), and each side shows in its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONNECTOR_CACHE, REPO, cli_env
from tests.integration.test_local_server import local_home  # noqa: F401  (a fixture)
from tests.servers import BENCH_SERVER_VARIABLE

pytestmark = pytest.mark.slow

SMOKE = {
    "airbyte_concurrency": (
        ["--connections", "3", "--job-seconds", "1", "--poll-interval", "0.1"],
        ["connections: 3, failed: 0", "requests per job: ", "wall/longest-job ratio: "],
    ),
    "s3_sensor_scale": (
        ["--objects", "200", "--polls", "50"],
        ["arrival-day  : ", "event mode   : ", "memory       : 50 listing polls"],
    ),
    "backfill": (
        ["--runs", "1", "--days", "3"],
        ["3-day backfill of fct_purchases", "backfill/dbt median ratio: "],
    ),
    "interrupt_stress": (
        ["--moments", "1", "--busy", "0", "--models", "5", "--faker-count", "100"],
        ["5-model tree: 1 signals at random", "shipped project: 1 signals", "slowest exit after"],
    ),
    "daily_changes": (
        ["--purchases", "3000", "--years", "1", "--runs", "1"],
        ["purchases over 1 years", "marts identical in all three warehouses: yes", "goal 0.05"],
    ),
    "dbt_overhead": (
        ["--smoke", "--skip-node-tasks"],  # those modes and Dagster's: parity's dbt piece
        ["5-model tree: ", "jaffle_shop_duckdb: ", "dbt_transform/cli median ratio: "],
    ),
}
# The local loop's benchmarks run `elt run` on a local server of their own ELT_HOME.
LOCAL_LOOP = {
    "make_run": (["--smoke"], ["warm make run: ", "fixed cost per command", "elt server status"]),
    "schema_drift": (
        ["--runs", "1", "--baseline", "1"],
        ["1 clean runs with the check, none reported drift", "the check adds "],
    ),
}
# Each piece of `make parity`: the module that runs it, its flag, its section's title.
PARITY = {
    "dbt_overhead": ("dbt", "## dbt, whole processes"),
    "parity_airbyte": ("airbyte", "## Airbyte: the same fake server"),
    "parity_s3": ("s3", "## S3 landing sensor"),
    "parity_freshness": ("freshness", "## Freshness: a stale table"),
    "parity_lineage": ("lineage", "## Lineage: the shipped project's graph"),
    "parity_backfill": ("backfill", "## Backfill: 3 days"),
    "parity_automation": ("automation", "## Automation: what one daily sync rebuilds"),
}
DBT_MODES = ("dbt build", "elt transform", "dagster asset materialize")  # dbt_overhead's


# The benchmarks that may use the worker's session server instead of starting their own: not
# parity_freshness, which applies automations (a lost run's window among them) that would act
# on the other tests' runs.
SHARES_THE_SESSION_SERVER = {
    "airbyte_concurrency",
    "backfill",
    "daily_changes",
    "dbt_overhead",
    "interrupt_stress",
    "parity-airbyte",
    "parity-automation",
    "parity-backfill",
    "parity-dbt",
    "parity-lineage",
}


def bench(script: str, args: list[str], cwd: Path, api: str | None = None, **env: str) -> str:
    """Run bench/SCRIPT.py; with `api`, on that Prefect server instead of one of its own."""
    environment = cli_env(**env, **({BENCH_SERVER_VARIABLE: api} if api else {}))
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):  # this xdist worker's, not the bench's
        if name not in env:
            environment.pop(name, None)
    ran = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=600,
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode in (0, 1), output  # 1: a full-size target not met at this size
    assert "Traceback" not in output, output
    return ran.stdout


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_a_benchmark_runs_to_its_report(script, tmp_path, prefect_api):
    args, lines = SMOKE[script]
    shared = prefect_api if script in SHARES_THE_SESSION_SERVER else None
    printed = bench(script, args, tmp_path, api=shared)
    for line in lines:
        assert line in printed, printed


@pytest.mark.xdist_group("local-server")  # local servers take ports from 4200 up: one at a time
@pytest.mark.parametrize("script", sorted(LOCAL_LOOP))
def test_a_local_loop_benchmark_runs_to_its_report(script, tmp_path, local_home):  # noqa: F811
    local_home.mkdir(parents=True)
    (local_home / "airbyte").symlink_to(CONNECTOR_CACHE / "airbyte")  # the session's connector
    args, lines = LOCAL_LOOP[script]
    printed = bench(
        script,
        args,
        tmp_path,
        ELT_LOCAL_SERVER="1",
        ELT_HOME=str(local_home),
        DUCKDB_PATH=str(tmp_path / "warehouse.duckdb"),
        DBT_TARGET_PATH=str(tmp_path / "dbt-target"),
        FAKER_COUNT="100",
    )
    for line in lines:
        assert line in printed, printed


@pytest.mark.parametrize("module", PARITY)
def test_a_parity_piece_runs_both_sides_to_its_table(module, tmp_path, prefect_api):
    import importlib

    piece, title = PARITY[module]
    results = tmp_path / "parity.md"
    skipped = [f"--skip-{flag}" for flag, _ in PARITY.values() if flag != piece]
    shared = prefect_api if f"parity-{piece}" in SHARES_THE_SESSION_SERVER else None
    printed = bench(
        "parity", ["--smoke", "--results", str(results), *skipped], tmp_path, api=shared
    )
    table = results.read_text()
    assert title in table, printed
    section = table.split(title, 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 2, table  # a header and at least one row of results
    sides = DBT_MODES if piece == "dbt" else importlib.import_module(f"bench.{module}").SIDES
    for side in sides:  # every side of the module ran: ours and Dagster's
        assert side in section, section
    assert "Dagster side (parity/): dagster " in table
