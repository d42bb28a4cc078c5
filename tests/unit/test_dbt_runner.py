"""dbt runs in this process (`orchestration.dbt.runner`): after a build on DuckDB, the database
file is free again, for the embedded Airbyte (another process) and our own read-only checks."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

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


def test_a_query_dbt_did_not_cancel_is_cancelled_once_the_process_is_told_to_stop(
    tmp_path, monkeypatch
):
    """A node thread that opened its connection just after dbt cancelled the open ones (on
    Ctrl-C) would run its query to the end while dbt waits for it: once STOP is set, the
    runner cancels the open queries again, so dbt returns within seconds, not minutes."""
    import threading
    import time

    from orchestration.runtime import interrupts

    project = small_project(tmp_path / "small")
    (project / "models" / "slow.sql").write_text(  # minutes of work for DuckDB
        "{{ config(materialized='table') }}\n"
        "select sum(a.range * b.range) as n from range(300000) a cross join range(300000) b"
    )
    monkeypatch.chdir(project)
    monkeypatch.setattr(interrupts, "STOP", threading.Event())  # this test's own stop
    started = threading.Event()

    def on_event(event) -> None:
        if event.info.name == "NodeExecuting" and "slow" in event.data.node_info.unique_id:
            started.set()

    def stop_once_slow_runs() -> None:
        started.wait(120)
        interrupts.STOP.set()  # told to stop, but dbt itself was never interrupted

    threading.Thread(target=stop_once_slow_runs, daemon=True).start()
    begun = time.monotonic()
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    with pytest.raises(interrupts.Interrupted):  # dbt's failure is the stop's: a cancel
        run_dbt(args, {}, callbacks=[on_event])
    took = time.monotonic() - begun
    assert started.is_set()
    assert took < 60, f"dbt ran {took:.0f} s"  # the query alone takes minutes


def test_a_stop_whose_exception_dbt_never_saw_is_raised_again_once_dbt_starts_nodes(
    tmp_path, monkeypatch
):
    """A signal whose exception was lost (it landed in a finalizer while dbt parsed: Python
    prints "Exception ignored" and goes on) leaves STOP set and dbt starting node after node:
    a node started a second after the stop has the interruption raised in the main thread
    again, and dbt stops as on Ctrl-C instead of running every node into a cancel."""
    import threading
    import time

    from orchestration.runtime import interrupts

    project = small_project(tmp_path / "many")
    for i in range(40):  # minutes of work each, one at a time: each runs until cancelled
        (project / "models" / f"m{i:02d}.sql").write_text(
            "{{ config(materialized='table') }}\n"
            "select sum(a.range * b.range) as n from range(300000) a cross join range(300000) b"
        )
    monkeypatch.chdir(project)
    monkeypatch.setattr(interrupts, "STOP", threading.Event())  # this test's own stop
    started: list[str] = []

    def on_event(event) -> None:
        if event.info.name == "NodeStart":
            started.append(event.data.node_info.unique_id)
            if len(started) == 1:
                interrupts.STOP.set()  # as `handle` does, but no exception reaches dbt

    begun = time.monotonic()
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    with pytest.raises(KeyboardInterrupt):  # dbt's own answer to Ctrl-C, then ours
        run_dbt(args, {}, callbacks=[on_event])
    assert time.monotonic() - begun < 30
    assert len(started) < 20, started  # it stopped starting nodes
