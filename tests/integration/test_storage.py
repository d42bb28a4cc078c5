"""Unwritable storage is a configuration error found first: a warehouse file, an ELT_HOME or a
dbt target folder that cannot be written fails the command before any sync, server or dbt, in
one line naming the path and the fix. (The tests run as root, whom permissions do not stop:
the places are made immutable with `chattr +i`, as a read-only mount would refuse them.)"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO, run_elt

NEEDS_PREFECT_API = False  # refused before any server is needed


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    try:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no chattr on this machine (e2fsprogs)")
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def refused(*args: str, **env: str) -> str:
    """`elt ARGS` (from the repository, the shipped project) refused: its one error line."""
    started = time.monotonic()
    ran = run_elt(*args, cwd=REPO, ELT_LOCAL_SERVER="0", **env)
    took = time.monotonic() - started
    assert ran.returncode == 1, ran.stdout + ran.stderr
    said = [line for line in ran.stderr.splitlines() if not line.startswith("... ")]
    assert len(said) == 1, ran.stderr  # one line (besides progress), no traceback
    lines = said
    assert "Syncing" not in ran.stdout + ran.stderr and took < 30, (took, ran.stderr)
    return lines[0]


def test_a_read_only_warehouse_file_is_refused_before_the_sync(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    settings = {"DUCKDB_PATH": str(warehouse), "ELT_HOME": str(tmp_path / "home")}
    with immutable(warehouse):
        line = refused("run", **settings)
    assert line == (
        f"error: cannot write the warehouse file {warehouse} (Operation not permitted): make it"
        " writable (a read-only mount, `chattr +i` or another owner prevent it), or set"
        " DUCKDB_PATH to a writable place"
    )


def test_a_read_only_elt_home_is_refused_before_the_sync(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    settings = {"DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"), "ELT_HOME": str(home)}
    with immutable(home):
        line = refused("sync", **settings)
    assert line.startswith(f"error: cannot write ELT_HOME {home} (Operation not permitted): ")
    assert line.endswith("or set ELT_HOME to a writable folder")


def test_a_read_only_dbt_target_folder_is_refused_before_dbt(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    settings = {"DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
                "ELT_HOME": str(tmp_path / "home"), "DBT_TARGET_PATH": str(target)}  # fmt: skip
    with immutable(target):
        line = refused("transform", **settings)
    assert line.startswith(
        f"error: cannot write dbt's target folder {target} (Operation not permitted): "
    )
    assert line.endswith("set DBT_TARGET_PATH (or the project's target-path) to a writable folder")
