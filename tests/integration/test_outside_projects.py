"""`elt transform` runs a dbt project nobody here wrote exactly as `dbt build` would: the same
exit status, the same node statuses, the profile's own threads, the same database file.

Each step runs twice, in two fresh copies of the project: once through plain `dbt`, once
through `elt transform` (on the session's Prefect server), side by side, and what each did is
read back from dbt's own `run_results.json` and the files it wrote. The projects: dbt-labs'
jaffle_shop_duckdb (vendored, see `tests/projects/`), and a project shaped like dbt-utils'
integration tests (a local package, `--vars`) written here. Their profiles are written as
public projects write them: a target of an unusual name, `env_var()` with defaults for the
database path and the threads. Every copy holds a `.env/` directory (a virtualenv, as
dbt-utils' integration tests have one)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import cli_env

JAFFLE_SHOP = Path(__file__).parents[1] / "projects" / "jaffle_shop_duckdb"
DBT = str(Path(sys.executable).with_name("dbt"))
ELT = [sys.executable, "-m", "orchestration.cli"]
CONCURRENCY = re.compile(r"Concurrency: (\d+) threads")

# As public projects write it: dbt alone writes `mine.duckdb` with 2 threads.
PROFILE = """\
{profile}:
  target: ci_runner_2
  outputs:
    ci_runner_2:
      type: duckdb
      path: "{{{{ env_var('DUCKDB_PATH', 'mine.duckdb') }}}}"
      threads: "{{{{ env_var('DBT_THREADS', '2') | as_number }}}}"
"""


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

    def __init__(self, source: Path, root: Path, tool: str, api: str, profile: str) -> None:
        self.path = root / tool
        shutil.copytree(source, self.path)
        (self.path / "profiles.yml").write_text(PROFILE.format(profile=profile))
        (self.path / ".env" / "bin").mkdir(parents=True)  # a virtualenv named .env
        (self.path / ".env" / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
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

    def __init__(self, source: Path, root: Path, api: str, profile: str) -> None:
        self.dbt = Copy(source, root, "dbt", api, profile)
        self.elt = Copy(source, root, "elt", api, profile)

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
    both = SideBySide(JAFFLE_SHOP, tmp_path, prefect_api, "jaffle_shop")

    first = both.step("build")  # an unusual target, env_var() defaults for path and threads
    assert first.exit_code == 0 and first.threads == 2 and first.databases == ["mine.duckdb"]
    assert len(first.statuses) == 28, first.statuses

    picked = both.step("build", "-s", "+customers", "--exclude", "stg_payments", "--full-refresh")
    assert picked.exit_code == 0 and "model.jaffle_shop.stg_payments" not in picked.statuses

    nothing_excluded = both.step("build", "--exclude", "no_such_model")
    assert nothing_excluded.exit_code == 0 and len(nothing_excluded.statuses) == 28

    orders = (JAFFLE_SHOP / "models" / "orders.sql").read_text()
    both.edit("models/orders.sql", "select * from no_such_table")
    broken = both.step("build")
    assert broken.exit_code == 1 and broken.statuses["model.jaffle_shop.orders"] == "error"
    both.edit("models/orders.sql", orders)
    retried = both.step("retry")  # only what failed or was skipped
    assert retried.exit_code == 0 and 0 < len(retried.statuses) < 28

    both.edit("models/schema.yml", "version: 2\nmodels: [\n")
    unparsable = both.step("build")
    assert unparsable.exit_code == 2  # dbt's status for a project it cannot parse


def helpers_package(root: Path) -> None:
    """A local package, as dbt-utils' integration tests use dbt-utils from `../`."""
    (root / "macros").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: helpers\nversion: '1.0.0'\nconfig-version: 2\nmacro-paths: [macros]\n"
    )
    (root / "macros" / "cents.sql").write_text(
        "{% macro cents_to_dollars(column) %}round({{ column }} / 100.0, 2){% endmacro %}\n"
    )


def project_with_package_and_vars(root: Path) -> Path:
    """Seeds, a model that reads a package's macro and a `var` as the date YAML makes it (its
    `.year`), and tests."""
    helpers_package(root / "helpers")
    project = root / "reports"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: reports\nversion: '1.0.0'\nconfig-version: 2\nprofile: reports\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
        "models:\n  reports:\n    +materialized: table\n"
    )
    (project / "packages.yml").write_text("packages:\n  - local: ../helpers\n")
    (project / "seeds" / "payments.csv").write_text(
        "id,paid_on,amount_cents\n1,2026-10-30,1250\n2,2026-10-31,399\n3,2026-11-02,10000\n"
    )
    (project / "models" / "paid_until_day.sql").write_text(
        "{% set day = var('day', modules.datetime.date(2026, 1, 1)) %}\n"
        "select {{ day.year }} as year_of_day, count(*) as payments,\n"
        "    sum({{ helpers.cents_to_dollars('amount_cents') }}) as dollars\n"
        "from {{ ref('payments') }} where paid_on <= '{{ day }}'\n"
    )
    (project / "models" / "schema.yml").write_text(
        "version: 2\nmodels:\n  - name: paid_until_day\n    columns:\n"
        "      - name: payments\n        data_tests: [not_null]\n"
    )
    return project


def test_a_project_with_a_local_package_and_yaml_vars_runs_as_under_dbt(tmp_path, prefect_api):
    source = project_with_package_and_vars(tmp_path / "source")
    both = SideBySide(source, tmp_path / "runs", prefect_api, "reports")
    for copy in (both.dbt, both.elt):  # the package sits beside each copy, as in the source
        shutil.copytree(source.parent / "helpers", copy.path.parent / "helpers", dirs_exist_ok=True)

    built = both.step("build", "--vars", "day: 2026-11-01")  # YAML: a date, as dbt reads it
    assert built.exit_code == 0 and built.threads == 2, built.output
    for copy in (both.dbt, both.elt):
        with duckdb.connect(str(copy.path / "mine.duckdb"), read_only=True) as db:
            row = db.execute("select year_of_day, payments, dollars from paid_until_day").fetchone()
        assert row == (2026, 2, pytest.approx(16.49)), copy.tool
