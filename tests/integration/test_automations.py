"""Alerting as code, proven on a real `prefect server start`: `elt automations apply` is
idempotent, and a stale table reaches a local webhook receiver exactly once, fresh data never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, cli_env, run_elt
from tests.fakes.airbyte_server import Script
from tests.integration.test_deployments import PREFECT, prefect
from tests.integration.test_fleet_limits import logged, wait_until
from tests.integration.test_freshness import age_table
from tests.servers import WebhookReceiver, create_flow_run

NAMES = {
    "elt-freshness-breached",
    "elt-pipeline-failed",
    "elt-dbt-node-failed",
    "elt-flow-run-lost",
    "elt-flow-run-crashed-retry",
}


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.server.shutdown()


def elt(*args: str, env: dict[str, str], cwd, **extra: str):
    return run_elt(*args, cwd=cwd, **{**env, **extra})


def test_apply_is_idempotent_and_a_breach_reaches_the_webhook_once(
    prefect_server, receiver, warehouse, elt_env
):
    env = {**prefect_server, "ALERT_WEBHOOK_URL": receiver.url}
    api = env["PREFECT_API_URL"]

    dry = elt("automations", "apply", "--dry-run", env=env, cwd=elt_env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.count("would be created") == len(NAMES)
    assert httpx.post(f"{api}/automations/filter", json={}).json() == []  # nothing changed

    first = elt("automations", "apply", env=env, cwd=elt_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(first.stdout.split()) == sorted(["created"] * len(NAMES) + list(NAMES))
    second = elt("automations", "apply", env=env, cwd=elt_env)
    assert sorted(second.stdout.split()) == sorted(["unchanged"] * len(NAMES) + list(NAMES))
    saved = httpx.post(f"{api}/automations/filter", json={}).json()
    assert sorted(a["name"] for a in saved) == sorted(NAMES)  # one per name
    shown = elt("automations", "show", env=env, cwd=elt_env)
    assert "elt.freshness.breached" in shown.stdout

    # The mart was built just now on this server's record, so only source tables can breach.
    now = datetime.now(UTC).isoformat()
    httpx.post(
        f"{api}/variables/",
        json={"name": "elt_dbt_builds_local", "value": {"daily_revenue": now}},
    ).raise_for_status()
    check = {"DUCKDB_PATH": str(warehouse), "DBT_PROJECT_DIR": str(REPO / "dbt_project")}

    fresh = elt("freshness", env=env, cwd=elt_env, **check)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    age_table(warehouse, "users", hours=48)
    stale = elt("freshness", env=env, cwd=elt_env, **check)
    assert stale.returncode == 1

    (call,) = receiver.wait_for(1, timeout=90)
    assert (call["table"], call["kind"], call["target"]) == ("users", "source", "local")
    assert float(call["age_hours"]) >= 48 and call["sla"] == "error 25 hours"
    assert call["text"].startswith("Freshness SLA breached: source users on target local is 48.")
    time.sleep(3)  # anything else the server would still send arrives by now
    assert len(receiver.calls) == 1  # the fresh run and the passing tables sent nothing


def test_a_killed_run_is_marked_crashed_and_alerted_once_a_cancelled_one_never(
    prefect_server, receiver, elt_env, fake
):
    """SIGKILL leaves no process to report: the run stops sending heartbeats, the shipped
    `elt-flow-run-lost` automation marks it Crashed, and the pipeline alert fires for it. A
    run stopped by SIGTERM ends Cancelled and alerts nobody."""
    env = {**prefect_server, "ALERT_WEBHOOK_URL": receiver.url}
    api = env["PREFECT_API_URL"]
    applied = elt("automations", "apply", env=env, cwd=elt_env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    fake.add_connection("conn-1", Script(duration=600))  # a sync that runs for ten minutes
    airbyte = {
        "AIRBYTE_SERVER_URL": fake.url,
        "AIRBYTE_CONNECTION_ID": "conn-1",
        "AIRBYTE_POLL_INTERVAL_SECONDS": "1",
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
    }

    def start_run() -> tuple[subprocess.Popen, dict]:
        before = {r["id"] for r in httpx.post(f"{api}/flow_runs/filter", json={}).json()}
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run"],
            cwd=elt_env,
            env=cli_env(**{**env, **airbyte}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:  # the pipeline's run has sent a heartbeat and its sync polls the job
            runs = httpx.post(f"{api}/flow_runs/filter", json={}).json()
            new = [r for r in runs if r["id"] not in before and r["parent_task_run_id"] is None]
            beat = new and read_events_of(api, "prefect.flow-run.heartbeat", new[0]["id"])
            if beat and len(fake.calls("GET", r".*/jobs/\d+")) > polled:
                return process, new[0]
            assert process.poll() is None and time.monotonic() < deadline, "the run never got going"
            time.sleep(0.5)

    polled = 0
    killed_process, killed = start_run()
    killed_process.kill()
    killed_process.wait()
    polled = len(fake.calls("GET", r".*/jobs/\d+"))
    stopped_process, stopped = start_run()
    stopped_process.send_signal(signal.SIGTERM)
    assert stopped_process.wait(timeout=60) == 143

    (call,) = receiver.wait_for(1, timeout=240)  # 90 s without a heartbeat, then the alert
    assert call["flow_run"] == killed["name"] and call["state"] == "Crashed", call
    state = httpx.get(f"{api}/flow_runs/{killed['id']}").json()["state"]
    assert state["type"] == "CRASHED" and "No heartbeat for 90 s" in state["message"]
    assert httpx.get(f"{api}/flow_runs/{stopped['id']}").json()["state"]["type"] == "CANCELLED"
    time.sleep(3)  # anything else the server would still send arrives by now
    assert len(receiver.calls) == 1  # the cancelled run alerted nobody


def read_events_of(api: str, name: str, flow_run_id: str) -> list[dict]:
    body = {
        "filter": {
            "event": {"name": [name]},
            "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
        },
        "limit": 10,
    }
    return httpx.post(f"{api}/events/filter", json=body).json()["events"]


def flow_run_process(flow_run_id: str) -> int | None:
    """The pid of the process running `flow_run_id` (a process worker's child carries
    PREFECT__FLOW_RUN_ID in its environment)."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and b"worker" not in cmdline:
            return int(proc.name)
    return None


def test_a_deployed_sync_killed_mid_job_is_run_again_once_and_attaches_to_its_job(
    prefect_server, receiver, elt_env, fake, tmp_path
):
    """A process worker's flow run is SIGKILLed while its Airbyte job runs: the worker marks
    it Crashed, the shipped `elt-flow-run-crashed-retry` automation schedules it again, the
    worker runs attempt 2, which attaches to the job still running (no second sync) and ends
    Completed."""
    pool = "elt-crash-retry"
    env = {
        **prefect_server,
        "ALERT_WEBHOOK_URL": receiver.url,
        "ELT_WORKDIR": str(REPO),
        "PREFECT_DEFAULT_WORK_POOL_NAME": pool,
    }
    api = env["PREFECT_API_URL"]
    applied = elt("automations", "apply", env=env, cwd=elt_env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    held = Script(statuses=["running"])  # the job runs until the test lets it finish
    connection = fake.add_connection("conn-crash", held)
    prefect("work-pool", "create", pool, "--type", "process", env=env)
    prefect("--no-prompt", "deploy", "--name", "airbyte-sync", env=env)
    (deployment,) = httpx.post(
        f"{api}/deployments/filter", json={"deployments": {"name": {"any_": ["airbyte-sync"]}}}
    ).json()
    run_id = create_flow_run(api, deployment["id"], {"connection_ids": [connection]})
    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as log:
        worker = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", pool, "--limit", "1"],
            cwd=REPO,
            env=cli_env(
                **env,
                AIRBYTE_SERVER_URL=fake.url,
                AIRBYTE_POLL_INTERVAL_SECONDS="0.5",
                PREFECT_WORKER_QUERY_SECONDS="1",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def run() -> dict:
        found = httpx.get(f"{api}/flow_runs/{run_id}").json()
        found["worker log"] = worker_log.read_text()[-3000:]
        return found

    try:
        wait_until(lambda: len(fake.active_jobs()) == 1, "attempt 1 started the job")
        pid = flow_run_process(run_id)
        assert pid is not None, "no process runs the flow run"
        os.kill(pid, signal.SIGKILL)

        wait_until(lambda: run()["run_count"] == 2, "the crashed run ran again", timeout=120)
        wait_until(lambda: logged(api, [run_id], "attaching to it"), "attempt 2 attached")
        held.statuses = ["succeeded"]
        wait_until(lambda: run()["state"]["type"] in TERMINAL_TYPES, "attempt 2 ended")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {run()}") from None
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    assert run()["state"]["type"] == "COMPLETED", run()
    assert len(fake.jobs) == 1  # attached to the job the killed attempt started
    states = httpx.get(f"{api}/flow_run_states/", params={"flow_run_id": run_id}).json()
    names = [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]
    crashed = names.index("Crashed")
    assert names[crashed + 1] == "AwaitingRetry" and names[-1] == "Completed", names


TERMINAL_TYPES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
