"""Alerting as code, proven on a real `prefect server start`: `elt automations apply` is
idempotent, and a stale table reaches a local webhook receiver exactly once, fresh data never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient

from tests.conftest import REPO, cli_env, run_elt, stop_worker, wait_until
from tests.fakes.airbyte_server import Script
from tests.integration.test_deployments import PREFECT, create_process_pool, prefect
from tests.integration.test_fleet_limits import logged
from tests.integration.test_freshness import age_table
from tests.servers import WebhookReceiver

# slow: waits out automations on a real server (a killed run is marked Crashed after 90 s)
pytestmark = pytest.mark.slow

NAMES = {
    "elt-freshness-breached",
    "elt-pipeline-failed",
    "elt-dbt-node-failed",
    "elt-flow-run-lost",
    "elt-flow-run-crashed-retry",
    "elt-schema-drift",
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
    # the fresh run and the passing tables sent nothing
    assert receiver.calls_before_a_sentinel(api) == [call]

    # schema drift: a breaking change alerts, an added column does not
    for column, breaking in (("email", "true"), ("coupon", "false")):
        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": "elt.schema.drift",
            "resource": {
                "prefect.resource.id": f"elt.schema.local.airbyte.{column}-table",
                "prefect.resource.name": f"airbyte.{column}-table",
                "elt.schema.breaking": breaking,
            },
            "payload": {"change": "column dropped" if breaking == "true" else "column added",
                        "column": column, "models_held_back": ["stg_users", "dim_users"],
                        "message": f"airbyte.{column}-table: a change of {column}"},
        }  # fmt: skip
        httpx.post(f"{api}/events", json=[event], timeout=30).raise_for_status()
    calls = receiver.calls_before_a_sentinel(api)
    drift = [c for c in calls if "change" in c]
    assert [(c["column"], c["change"]) for c in drift] == [("email", "column dropped")]
    assert drift[0]["text"] == (
        "Schema drift: airbyte.email-table: a change of email; held back from the build: "
        "stg_users, dim_users"
    )


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
    shorten_the_window("elt-flow-run-lost", LOST_WINDOW_SECONDS, api)
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

    (call,) = receiver.wait_for(1, timeout=240)  # the window without a heartbeat, the alert
    assert call["flow_run"] == killed["name"] and call["state"] == "Crashed", call
    state = httpx.get(f"{api}/flow_runs/{killed['id']}").json()["state"]
    assert state["type"] == "CRASHED" and "No heartbeat for " in state["message"]
    assert httpx.get(f"{api}/flow_runs/{stopped['id']}").json()["state"]["type"] == "CANCELLED"
    assert receiver.calls_before_a_sentinel(api) == [call]  # the cancelled run alerted nobody


# The shipped windows (tests/unit/test_automation_definitions.py) are real time: here their
# mechanism is proven on shorter ones. A run is lost 90 s (three heartbeats) after its last
# heartbeat; here 20 s, still longer than a stopped run's SIGTERM takes to end it Cancelled
# after its first heartbeat (a live run must never be taken). A crashed run is retried 20 s
# after its crash; here 10 s, still after a worker has let go of the crashed process.
LOST_WINDOW_SECONDS = 20
RETRY_WINDOW_SECONDS = 10  # Prefect's least for a proactive trigger


def shorten_the_window(name: str, seconds: int, api: str) -> None:
    """The applied automation `name`, with its trigger's `within` set to `seconds` (the rest
    as shipped)."""
    named = {"automations": {"name": {"any_": [name]}}}
    (applied,) = httpx.post(f"{api}/automations/filter", json=named).json()
    applied["trigger"]["within"] = seconds
    updatable = {k: v for k, v in applied.items() if k not in ("id", "created", "updated",
                                                               "owner_resource")}  # fmt: skip
    put = httpx.put(f"{api}/automations/{applied['id']}", json=updatable)
    assert put.status_code == 204, put.text
    (updated,) = httpx.post(f"{api}/automations/filter", json=named).json()
    assert updated["trigger"]["within"] == seconds


def read_events_of(api: str, name: str, flow_run_id: str) -> list[dict]:
    body = {
        "filter": {
            "event": {"name": [name]},
            "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
        },
        "limit": 10,
    }
    return httpx.post(f"{api}/events/filter", json=body).json()["events"]


def flow_run_process(flow_run_id: str, command: bytes = b"") -> int | None:
    """The pid of the process running `flow_run_id` (a process worker's child carries
    PREFECT__FLOW_RUN_ID in its environment), the one whose command line holds `command`."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and b"worker" not in cmdline and command in cmdline:
            return int(proc.name)
    return None


class WorkerRun:
    """One run of the `airbyte-sync` deployment on a process worker of its own pool, syncing
    a connection whose Airbyte job runs until `finish()`."""

    def __init__(self, env, fake, tmp_path, pool: str, job_variables: dict | None = None):
        self.api = env["PREFECT_API_URL"]
        self.fake = fake
        self.held = Script(statuses=["running"])
        connection = fake.add_connection(f"conn-{pool}", self.held)
        env = {**env, "PREFECT_DEFAULT_WORK_POOL_NAME": pool}
        create_process_pool(pool, env)
        prefect("--no-prompt", "deploy", "--name", "airbyte-sync", env=env)
        (deployment,) = httpx.post(
            f"{self.api}/deployments/filter",
            json={"deployments": {"name": {"any_": ["airbyte-sync"]}}},
        ).json()
        with SyncPrefectClient(self.api) as client:
            self.id = str(
                client.create_flow_run_from_deployment(
                    UUID(deployment["id"]),
                    parameters={"connection_ids": [connection]},
                    job_variables=job_variables,
                ).id
            )
        self.log = tmp_path / f"worker-{pool}.log"
        with self.log.open("w") as log:
            self.worker = subprocess.Popen(
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

    def run(self) -> dict:
        found = httpx.get(f"{self.api}/flow_runs/{self.id}").json()
        found["worker log"] = self.log.read_text()[-3000:]
        return found

    def wait_until(self, condition, what: str, timeout: float = 240) -> None:
        try:
            wait_until(condition, what, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.run()}") from None

    def states(self) -> list[str]:
        states = httpx.get(f"{self.api}/flow_run_states/", params={"flow_run_id": self.id}).json()
        return [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]

    def interrupt_mid_job(self, sig: signal.Signals, command: bytes = b"") -> None:
        """Once attempt 1's Airbyte job runs, send `sig` to its process (the one whose command
        line holds `command`); attempt 2 must run, attach to the job, and end once it ends."""
        self.wait_until(lambda: len(self.fake.active_jobs()) == 1, "attempt 1 started the job")
        pid = flow_run_process(self.id, command=command)
        assert pid is not None, f"no process {command.decode()!r} runs the flow run"
        os.kill(pid, sig)
        self.wait_until(lambda: self.run()["run_count"] == 2, "the run ran again", 120)
        attached = lambda: logged(self.api, [self.id], "attaching to it")  # noqa: E731
        self.wait_until(attached, "attempt 2 attached")
        self.held.statuses = ["succeeded"]
        self.wait_until(lambda: self.run()["state"]["type"] in TERMINAL_TYPES, "attempt 2 ended")

    def stop(self) -> None:
        stop_worker(self.worker)


def test_a_deployed_sync_killed_mid_job_is_run_again_once_and_attaches_to_its_job(
    prefect_server, receiver, elt_env, fake, tmp_path
):
    """A process worker's flow run is SIGKILLed while its Airbyte job runs: the worker marks
    it Crashed, the shipped `elt-flow-run-crashed-retry` automation schedules it again, the
    worker runs attempt 2, which attaches to the job still running (no second sync) and ends
    Completed."""
    env = {**prefect_server, "ALERT_WEBHOOK_URL": receiver.url, "ELT_WORKDIR": str(REPO)}
    applied = elt("automations", "apply", env=env, cwd=elt_env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    shorten_the_window("elt-flow-run-crashed-retry", RETRY_WINDOW_SECONDS, env["PREFECT_API_URL"])
    run = WorkerRun(env, fake, tmp_path, "elt-crash-retry")
    try:
        run.interrupt_mid_job(signal.SIGKILL)
    finally:
        run.stop()

    assert run.run()["state"]["type"] == "COMPLETED", run.run()
    assert len(fake.jobs) == 1  # attached to the job the killed attempt started
    names = run.states()
    crashed = names.index("Crashed")
    assert names[crashed + 1] == "AwaitingRetry" and names[-1] == "Completed", names


def test_an_evicted_sync_is_rescheduled_by_prefect_and_its_airbyte_job_left_running(
    prefect_server, fake, tmp_path
):
    """As a Kubernetes Job runs a flow: `prefect flow-run execute`, told by the worker to
    reschedule the run on SIGTERM (PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR). Its SIGTERM is
    an eviction, not a cancel: the Airbyte job is left running (never cancelled), Prefect
    reschedules the run, and attempt 2 attaches to the job and completes."""
    supervised = {
        "command": f"{PREFECT} flow-run execute",
        "env": {"PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR": "reschedule"},
    }
    env = {**prefect_server, "ELT_WORKDIR": str(REPO)}
    # With a worker limit: Prefect reschedules at once and offers the worker the run it still
    # tracks; a 3.8 worker failed there ("this borrower is already holding one of this
    # CapacityLimiter's tokens"), a 3.9 worker waits for the first process (docs/kubernetes.md).
    run = WorkerRun(env, fake, tmp_path, "elt-evictions", job_variables=supervised)
    try:  # SIGTERM to `prefect flow-run execute`: what the kubelet sends the pod's process
        run.interrupt_mid_job(signal.SIGTERM, command=b"execute")
    finally:
        run.stop()

    assert run.run()["state"]["type"] == "COMPLETED", run.run()
    assert fake.calls("DELETE") == [], "the Airbyte job was cancelled"
    assert len(fake.jobs) == 1
    assert logged(run.api, [run.id], "left running: Prefect reschedules this run")
    names = run.states()
    assert "Cancelled" not in names and "AwaitingRetry" in names, names


TERMINAL_TYPES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def error_records(text: str) -> list[str]:
    """The lines of a process's log that a reader would take for an error."""
    return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]


def test_a_deployed_run_cancelled_from_the_cli_logs_no_error_anywhere(
    prefect_server, fake, tmp_path
):
    """`prefect flow-run cancel` on a deployed sync mid-job: the run ends Cancelled, and
    neither its logs in the API, the worker's log nor the server's log hold an ERROR record or
    a traceback: a deliberate cancel is not an error."""
    env = {**prefect_server, "ELT_WORKDIR": str(REPO)}
    server_log = Path(env["PREFECT_HOME"]) / "server.log"
    server_log_before = server_log.stat().st_size
    run = WorkerRun(env, fake, tmp_path, "elt-cancels")
    try:
        run.wait_until(lambda: len(run.fake.active_jobs()) == 1, "the run started the job")
        prefect("flow-run", "cancel", run.id, env=env)
        run.wait_until(lambda: run.run()["state"]["type"] in TERMINAL_TYPES, "the run ended", 120)
        # its process sends its logs in batches, the last as it exits: stopping the worker
        # sooner would kill it first (a worker that keeps running, as deployed, never does)
        ended = lambda: logged(run.api, [run.id], "Finished in state Cancelled")  # noqa: E731
        run.wait_until(ended, "the run's last record reached the server", 60)
    finally:
        run.stop()

    assert run.run()["state"]["type"] == "CANCELLED", run.run()
    logs = httpx.post(
        f"{run.api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [run.id]}}}
    ).json()
    assert [(log["level"], log["message"]) for log in logs if log["level"] >= 40] == []
    assert error_records(run.log.read_text()) == []
    with server_log.open("rb") as log:
        log.seek(server_log_before)
        assert error_records(log.read().decode(errors="replace")) == []
