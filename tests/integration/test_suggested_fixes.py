"""Every fix the project prints works: each test brings about the state behind a message, runs
the `elt ...` command the message names, exactly as printed, and checks that the command it
came from then succeeds. (Others are checked where their state is made: `elt server stop` for a
hung local server in test_local_server.py, `elt backfill --retry` in test_backfill.py,
`elt drift accept` in test_schema_drift.py, `elt limits repair` in test_limit_restarts.py.)"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import CONNECTOR_CACHE, REPO, cli_env, run_elt, suggested_fix
from tests.servers import fresh_database, prefect_server

pytestmark = pytest.mark.slow  # each runs the embedded sync or a Prefect server of its own


def error_line(ran) -> str:
    assert ran.returncode == 1, ran.stdout + ran.stderr
    return [line for line in ran.stderr.splitlines() if line.startswith("error: ")][-1]


def test_a_warehouse_not_synced_yet_then_a_dropped_raw_table_each_fixed_as_told(tmp_path, cli):
    home = tmp_path / "home"
    home.mkdir()
    (home / "airbyte").symlink_to(CONNECTOR_CACHE / "airbyte")  # the installed connector
    env = {"ELT_HOME": str(home), "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
           "DBT_TARGET_PATH": str(tmp_path / "target"), "FAKER_COUNT": "100"}  # fmt: skip

    def elt(*args: str):
        return cli(*args, cwd=REPO, **env)

    fresh = error_line(elt("drift"))  # nothing synced into this warehouse yet
    assert "does not exist yet" in fresh, fresh
    fixed = elt(*suggested_fix(fresh))
    assert fixed.returncode == 0, fixed.stderr
    assert elt("drift").returncode == 0

    with duckdb.connect(env["DUCKDB_PATH"]) as db:
        db.execute("drop table raw.users")
    missing = error_line(elt("drift"))
    assert "users" in missing and "sync again to recreate" in missing, missing
    fixed = elt(*suggested_fix(missing))
    assert fixed.returncode == 0, fixed.stderr
    again = elt("drift")
    assert again.returncode == 0, again.stderr
    assert Path(env["DUCKDB_PATH"]).exists()


def test_a_server_without_limits_gets_them_as_told(tmp_path, postgres):
    """`elt limits show` on a new Prefect server says which command adds the limits; it
    does."""
    with prefect_server(tmp_path / "prefect", cli_env(), fresh_database(postgres)) as server:
        api = {"PREFECT_API_URL": server["PREFECT_API_URL"], "ELT_LOCAL_SERVER": "0"}
        shown = run_elt("limits", "show", cwd=REPO, **api)
        assert shown.returncode == 0, shown.stderr
        (said,) = [line for line in shown.stdout.splitlines() if "no global concurrency" in line]
        fixed = run_elt(*suggested_fix(said), cwd=REPO, **api)
        assert fixed.returncode == 0, fixed.stderr
        again = run_elt("limits", "show", cwd=REPO, **api)
    assert again.returncode == 0, again.stderr
    assert "no global concurrency" not in again.stdout and "airbyte-api" in again.stdout
