"""dbt runs in this process (`orchestration.dbt.runner`): after a build on DuckDB, the database
file is free again, for the embedded Airbyte (another process) and our own read-only checks."""

from __future__ import annotations

import subprocess
import sys

import duckdb

from orchestration.dbt.runner import run_dbt


def small_project(root):
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: small\nversion: '1.0.0'\nprofile: small\nconfig-version: 2\n"
    )
    (root / "models" / "one.sql").write_text("select 1 as x")
    (root / "profiles.yml").write_text(
        f"small:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'small.duckdb'}\n      threads: 1\n"
    )
    return root


def test_after_a_build_the_duckdb_file_is_free_for_others(tmp_path, monkeypatch):
    project = small_project(tmp_path / "small")
    monkeypatch.chdir(project)
    result = run_dbt(["build", "--project-dir", str(project), "--profiles-dir", str(project)], {})
    assert result.success, result.error
    path = project / "small.duckdb"
    with duckdb.connect(str(path), read_only=True) as db:  # same process, another config
        assert db.execute("select x from one").fetchall() == [(1,)]
    writer = subprocess.run(  # another process, writing
        [
            sys.executable,
            "-c",
            f"import duckdb; duckdb.connect({str(path)!r}).execute('create table t (y int)')",
        ],
        capture_output=True,
        text=True,
    )
    assert writer.returncode == 0, writer.stderr
