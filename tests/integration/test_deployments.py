"""`prefect deploy --all` against a real `prefect server start`, then a process worker runs the
daily deployment on the embedded defaults to Completed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orchestration.schedules.daily import DAILY_SCHEDULE
from tests.conftest import CONNECTOR_CACHE, REPO, cli_env
from tests.fakes.s3 import free_port

PREFECT = str(Path(sys.executable).with_name("prefect"))


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = cli_env(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "prefect server did not start"
        time.sleep(0.5)
    yield env
    server.terminate()
    server.wait(timeout=60)


def prefect(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(
        [PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_deploy_all_then_a_worker_runs_the_daily_pipeline(prefect_server, tmp_path):
    env = {**prefect_server, "ELT_WORKDIR": str(REPO)}
    api = env["PREFECT_API_URL"]
    prefect("work-pool", "create", "elt-process", "--type", "process", env=env)
    prefect("--no-prompt", "deploy", "--all", env=env)

    deployments = httpx.post(f"{api}/deployments/filter", json={}).json()
    by_name = {d["name"]: d for d in deployments}
    assert set(by_name) == {"daily-full-pipeline", "s3-sensor", "airbyte-sync", "dbt-transform"}
    daily = by_name["daily-full-pipeline"]
    assert daily["entrypoint"] == "orchestration/flows/full_pipeline.py:full_pipeline"
    assert daily["work_pool_name"] == "elt-process"
    (schedule,) = daily["schedules"]
    assert schedule["schedule"]["cron"] == DAILY_SCHEDULE
    assert schedule["schedule"]["timezone"] == "UTC"
    assert all(d["work_pool_name"] == "elt-process" for d in deployments)

    run = httpx.post(
        f"{api}/deployments/{daily['id']}/create_flow_run",
        json={"parameters": {"faker_count": 100, "faker_seed": 7}},
    ).json()
    worker_env = {
        **env,
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "ELT_HOME": str(CONNECTOR_CACHE),
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
    }
    prefect("worker", "start", "--pool", "elt-process", "--run-once", env=worker_env, timeout=600)

    state = httpx.get(f"{api}/flow_runs/{run['id']}").json()["state"]
    assert state["type"] == "COMPLETED", state
