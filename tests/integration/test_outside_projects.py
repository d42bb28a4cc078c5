"""`elt transform` runs a dbt project nobody here wrote exactly as `dbt build` would: the same
exit status, the same node statuses, the profile's own threads, the same database file.

Each step runs twice, in two fresh copies of the project: once through plain `dbt`, once
through `elt transform` (on the session's Prefect server), side by side, and what each did is
read back from dbt's own `run_results.json` and the files it wrote. The projects and their
profiles are in `bench/outside_projects.py`: dbt-labs' jaffle_shop_duckdb, and a project with a
local package and a `var`; a target of an unusual name, `env_var()` defaults for the database
path and the threads, a `.env/` virtualenv beside."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from bench.outside_projects import jaffle_shop, reports_with_package
from tests.conftest import cli_env

pytestmark = pytest.mark.slow  # builds outside dbt projects twice, with dbt and with elt

DBT = str(Path(sys.executable).with_name("dbt"))
ELT = [sys.executable, "-m", "orchestration.cli"]
CONCURRENCY = re.compile(r"Concurrency: (\d+) threads")


@dataclass(frozen=True)
class Outcome:
    """What one command did, as dbt itself recorded it."""

    exit_code: int
    statuses: dict[str, str]  # unique_id -> status, from target/run_results.json
    threads: int | None
    databases: list[str]  # the DuckDB files in the project folder
    output: str

    def same_as(self, other: Outcome) -> dict[str, tuple[object, object]]:
        """The differences that matter (not the output's wording)."""
        fields = ("exit_code", "statuses", "threads", "databases")
        return {
            f: (getattr(self, f), getattr(other, f))
            for f in fields
            if getattr(self, f) != getattr(other, f)
        }


class Copy:
    """A fresh copy of a project, run by one tool: plain `dbt`, or `elt transform`."""

    def __init__(self, make: Callable[[Path], Path], root: Path, tool: str, api: str) -> None:
        self.path = make(root / tool / "project")
        self.tool = tool
        # as a user's shell has it: none of our settings, none of the tests' dbt paths
        env = cli_env(PREFECT_API_URL=api)
        for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
            env.pop(name, None)
        self.env = env

    def build(self, *args: str) -> Outcome:
        (self.path / "target" / "run_results.json").unlink(missing_ok=True)
        if self.tool == "dbt":
            if (self.path / "packages.yml").exists():
                self._run([DBT, "deps"])
            return self._outcome(self._run([DBT, "build", *args]))
        return self._outcome(self._run([*ELT, "transform", "--project-dir", ".", *args]))

    def retry(self) -> Outcome:
        if self.tool == "dbt":
            return self._outcome(self._run([DBT, "retry"]))
        return self._outcome(self._run([*ELT, "transform", "--project-dir", ".", "--retry"]))

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=300
        )

    def _outcome(self, proc: subprocess.CompletedProcess) -> Outcome:
        results = self.path / "target" / "run_results.json"
        statuses: dict[str, str] = {}
        if results.exists():
            loaded = json.loads(results.read_text())
            statuses = {r["unique_id"]: r["status"] for r in loaded["results"]}
        # run_results records --threads only when given: dbt's log says what it ran with
        log = self.path / "logs" / "dbt.log"
        ran_with = CONCURRENCY.findall(log.read_text(errors="replace")) if log.exists() else []
        threads = int(ran_with[-1]) if ran_with else None
        databases = sorted(
            str(p.relative_to(self.path)) for p in self.path.rglob("*.duckdb") if p.is_file()
        )
        return Outcome(proc.returncode, statuses, threads, databases, proc.stdout + proc.stderr)


class SideBySide:
    """The same steps on two copies, by dbt and by elt, at the same time."""

    def __init__(self, make: Callable[[Path], Path], root: Path, api: str) -> None:
        self.dbt = Copy(make, root, "dbt", api)
        self.elt = Copy(make, root, "elt", api)

    def edit(self, relative: str, text: str) -> None:
        for copy in (self.dbt, self.elt):
            (copy.path / relative).write_text(text)

    def step(self, name: str, *args: str) -> Outcome:
        """Run `build ARGS` (or `retry`) with both; fail on any difference; dbt's outcome."""
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(copy.retry if name == "retry" else copy.build, *args)
                for copy in (self.dbt, self.elt)
            ]
            by_dbt, by_elt = (f.result() for f in futures)
        differences = by_dbt.same_as(by_elt)
        assert not differences, (
            f"{name} {' '.join(args)}: dbt vs elt differ in {differences}\n"
            f"--- dbt:\n{by_dbt.output[-3000:]}\n--- elt:\n{by_elt.output[-3000:]}"
        )
        return by_dbt


def test_jaffle_shop_runs_under_elt_exactly_as_under_dbt(tmp_path, prefect_api):
    both = SideBySide(jaffle_shop, tmp_path, prefect_api)

    first = both.step("build")  # an unusual target, env_var() defaults for path and threads
    assert first.exit_code == 0 and first.threads == 2 and first.databases == ["mine.duckdb"]
    assert len(first.statuses) == 28, first.statuses

    picked = both.step("build", "-s", "+customers", "--exclude", "stg_payments", "--full-refresh")
    assert picked.exit_code == 0 and "model.jaffle_shop.stg_payments" not in picked.statuses

    nothing_excluded = both.step("build", "--exclude", "no_such_model")
    assert nothing_excluded.exit_code == 0 and len(nothing_excluded.statuses) == 28

    orders = (both.dbt.path / "models" / "orders.sql").read_text()
    both.edit("models/orders.sql", "select * from no_such_table")
    broken = both.step("build")
    assert broken.exit_code == 1 and broken.statuses["model.jaffle_shop.orders"] == "error"
    both.edit("models/orders.sql", orders)
    retried = both.step("retry")  # only what failed or was skipped
    assert retried.exit_code == 0 and 0 < len(retried.statuses) < 28

    both.edit("models/schema.yml", "version: 2\nmodels: [\n")
    unparsable = both.step("build")
    assert unparsable.exit_code == 2  # dbt's status for a project it cannot parse


def test_a_project_with_a_local_package_and_yaml_vars_runs_as_under_dbt(tmp_path, prefect_api):
    both = SideBySide(reports_with_package, tmp_path, prefect_api)

    built = both.step("build", "--vars", "day: 2026-11-01")  # YAML: a date, as dbt reads it
    assert built.exit_code == 0 and built.threads == 2, built.output
    for copy in (both.dbt, both.elt):
        with duckdb.connect(str(copy.path / "mine.duckdb"), read_only=True) as db:
            row = db.execute("select year_of_day, payments, dollars from paid_until_day").fetchone()
        assert row == (2026, 2, pytest.approx(16.49)), copy.tool
