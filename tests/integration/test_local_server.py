"""Without PREFECT_API_URL, the first `elt` command starts a local Prefect server, says where
and how to stop it, and the next commands reuse it; `elt server stop` stops it."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx

from bench.generate_dbt_project import generate
from tests.conftest import run_elt

NEEDS_PREFECT_API = False  # the command under test starts its own


def test_commands_share_one_local_server_until_it_is_stopped(tmp_path, monkeypatch):
    project = generate(tmp_path / "project", models=3)
    home = tmp_path / "elt-home"
    env = {
        "ELT_LOCAL_SERVER": "1",
        "ELT_HOME": str(home),
        "BENCH_DUCKDB_PATH": str(tmp_path / "bench.duckdb"),
    }
    transform = ("transform", "--project-dir", str(project), "--profiles-dir", str(project))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # as on a fresh machine
    try:
        first = run_elt(*transform, cwd=tmp_path, **env)
        assert first.returncode == 0, first.stderr
        assert "started a local Prefect server at http://127.0.0.1:" in first.stderr
        assert "stop it with `elt server stop`" in first.stderr
        state = json.loads((home / "prefect-server.json").read_text())
        api = f"http://127.0.0.1:{state['port']}/api"

        second = run_elt(*transform, cwd=tmp_path, **env)
        assert second.returncode == 0, second.stderr
        assert "started a local Prefect server" not in second.stderr  # reused
        runs = httpx.post(f"{api}/flow_runs/filter", json={}).json()
        assert [r["state"]["type"] for r in runs] == ["COMPLETED", "COMPLETED"]

        status = run_elt("server", "status", cwd=tmp_path, **env)
        assert status.stdout.strip() == (
            f"local Prefect server at http://127.0.0.1:{state['port']} (pid {state['pid']})"
        )
        stopped = run_elt("server", "stop", cwd=tmp_path, **env)
        assert stopped.stdout.strip() == (
            f"stopped the local Prefect server at http://127.0.0.1:{state['port']}"
        )
        assert run_elt("server", "status", cwd=tmp_path, **env).returncode == 1
        deadline = time.monotonic() + 30
        while process_exists(state["pid"]):
            assert time.monotonic() < deadline, "the server is still running"
            time.sleep(0.2)
    finally:
        if (home / "prefect-server.json").exists():  # never leave a server behind
            pid = json.loads((home / "prefect-server.json").read_text())["pid"]
            if process_exists(pid):
                os.kill(pid, signal.SIGTERM)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
