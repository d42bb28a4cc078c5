"""dbt projects nobody here wrote, for tests and benchmarks: dbt-labs' jaffle_shop_duckdb
(vendored under tests/projects/, with its license) and a project shaped like dbt-utils'
integration tests (a local package, a `var` read as the date YAML makes it), written here.

Their profile is written as public projects write theirs: a target of an unusual name, and
`env_var()` with defaults for the database path and the threads, so plain dbt writes
`mine.duckdb` with 2 threads. A `.env/` directory (a virtualenv, as dbt-utils' integration
tests have one) sits in each."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

JAFFLE_SHOP = Path(__file__).resolve().parents[1] / "tests" / "projects" / "jaffle_shop_duckdb"

PROFILE = """\
{profile}:
  target: ci_runner_2
  outputs:
    ci_runner_2:
      type: duckdb
      path: "{{{{ env_var('DUCKDB_PATH', 'mine.duckdb') }}}}"
      threads: "{{{{ env_var('DBT_THREADS', '2') | as_number }}}}"
"""


def as_users_have_it(project: Path, profile: str) -> Path:
    """The profile beside the project, and a virtualenv named `.env` in it."""
    (project / "profiles.yml").write_text(PROFILE.format(profile=profile))
    (project / ".env" / "bin").mkdir(parents=True, exist_ok=True)
    (project / ".env" / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
    return project


def jaffle_shop(root: Path) -> Path:
    """A fresh copy of jaffle_shop_duckdb at `root`."""
    shutil.copytree(JAFFLE_SHOP, root)
    return as_users_have_it(root, "jaffle_shop")


def helpers_package(root: Path) -> None:
    """A local package, as dbt-utils' integration tests use dbt-utils from `../`."""
    (root / "macros").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: helpers\nversion: '1.0.0'\nconfig-version: 2\nmacro-paths: [macros]\n"
    )
    (root / "macros" / "cents.sql").write_text(
        "{% macro cents_to_dollars(column) %}round({{ column }} / 100.0, 2){% endmacro %}\n"
    )


def reports_with_package(root: Path) -> Path:
    """At `root`: seeds, a model that reads a package's macro (the package in `../helpers`)
    and a `var` as the date YAML makes it (its `.year`), and a test."""
    helpers_package(root.parent / "helpers")
    (root / "models").mkdir(parents=True)
    (root / "seeds").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: reports\nversion: '1.0.0'\nconfig-version: 2\nprofile: reports\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
        "models:\n  reports:\n    +materialized: table\n"
    )
    (root / "packages.yml").write_text("packages:\n  - local: ../helpers\n")
    (root / "seeds" / "payments.csv").write_text(
        "id,paid_on,amount_cents\n1,2026-10-30,1250\n2,2026-10-31,399\n3,2026-11-02,10000\n"
    )
    (root / "models" / "paid_until_day.sql").write_text(
        "{% set day = var('day', modules.datetime.date(2026, 1, 1)) %}\n"
        "select {{ day.year }} as year_of_day, count(*) as payments,\n"
        "    sum({{ helpers.cents_to_dollars('amount_cents') }}) as dollars\n"
        "from {{ ref('payments') }} where paid_on <= '{{ day }}'\n"
    )
    (root / "models" / "schema.yml").write_text(
        "version: 2\nmodels:\n  - name: paid_until_day\n    columns:\n"
        "      - name: payments\n        data_tests: [not_null]\n"
    )
    return as_users_have_it(root, "reports")
