"""The Airbyte API backend against a fake Airbyte server on loopback (real HTTP)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time

import pytest
from pydantic import SecretStr

from orchestration.airbyte.client import AirbyteApiConfig, AirbyteClient
from orchestration.airbyte.errors import AirbyteApiError
from orchestration.airbyte.jobs import run_sync, start_sync, sync_many
from orchestration.errors import StepFailed
from orchestration.flows.airbyte_sync import airbyte_sync
from tests.conftest import cli_env, flow_run_artifacts, run_elt
from tests.fakes.airbyte_server import FakeAirbyte, Script

FAST = {"poll_interval": 0.02, "timeout": 10.0}
CONN = "9f3a1c2e-0000-4000-8000-000000000001"


def client_for(fake: FakeAirbyte, sleeps: list[float] | None = None, **config) -> AirbyteClient:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    defaults = {"backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 4}
    return AirbyteClient(
        AirbyteApiConfig(server_url=fake.url, **{**defaults, **config}), sleep=sleep
    )


@pytest.fixture
def fake():
    with FakeAirbyte() as server:
        yield server


def test_happy_path_returns_job_rows_bytes_and_times(fake):
    fake.add_connection(
        CONN, Script(statuses=["pending", "running", "succeeded"], rows=42, bytes=4200)
    )
    with client_for(fake) as client:
        result = run_sync(client, CONN, **FAST)
    assert result.succeeded and result.job_id == "1001"
    assert (result.rows_synced, result.bytes_synced) == (42, 4200)
    assert result.started_at <= result.ended_at
    assert fake.calls("POST", "/jobs") == ["/jobs"]
    assert len(fake.calls("GET", r"/jobs/1001")) == 3


@pytest.mark.parametrize(
    ("auth", "config"),
    [
        ("none", {}),
        ("bearer", {"api_token": SecretStr("static-token")}),
        ("basic", {"username": "airbyte", "password": SecretStr("password")}),
        (
            "client_credentials",
            {"client_id": "client-id", "client_secret": SecretStr("client-secret")},
        ),
    ],
)
def test_each_auth_mode(auth, config):
    with FakeAirbyte(auth=auth) as fake:
        fake.add_connection(CONN)
        with client_for(fake, **config) as client:
            assert run_sync(client, CONN, **FAST).succeeded
        token_calls = fake.calls("POST", "/applications/token")
        assert len(token_calls) == (1 if auth == "client_credentials" else 0)


def test_token_refreshed_before_expiry_and_once_on_401():
    with FakeAirbyte(auth="client_credentials", token_ttl=0.3) as fake:
        fake.add_connection(CONN, Script(duration=1.0))
        creds = {"client_id": "client-id", "client_secret": SecretStr("client-secret")}
        with client_for(fake, **creds) as client:
            assert run_sync(client, CONN, poll_interval=0.05, timeout=10).succeeded
            refreshed_by_expiry = len(fake.calls("POST", "/applications/token"))
            assert refreshed_by_expiry >= 3  # 1 s of polling with 0.3 s tokens

            # The server revokes tokens mid-poll: one 401, one refresh, the poll goes on.
            fake.add_connection("conn-2", Script(statuses=["running"] * 5 + ["succeeded"]))
            job = start_sync(client, "conn-2")
            fake.expire_tokens()
            assert client.get_job(job["jobId"])["status"] == "running"
            assert len(fake.calls("POST", "/applications/token")) == refreshed_by_expiry + 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_faults_on_trigger_are_retried_without_a_second_job(fake, status):
    fake.add_connection(CONN)
    fake.inject("POST", "/jobs", status=status, times=2)
    with client_for(fake) as client:
        assert run_sync(client, CONN, **FAST).succeeded
    assert len(fake.calls("POST", "/jobs")) == 3
    assert len(fake.jobs) == 1


def test_429_on_poll_honours_retry_after(fake):
    fake.add_connection(CONN, Script(statuses=["running", "running", "succeeded"]))
    fake.inject("GET", r"/jobs/\d+", status=429, times=1, headers={"Retry-After": "0.25"})
    fake.inject("GET", r"/jobs/\d+", status=503, times=1)
    sleeps: list[float] = []
    with client_for(fake, sleeps) as client:
        assert run_sync(client, CONN, **FAST).succeeded
    assert 0.25 in sleeps


def test_post_timeout_after_the_job_was_created_attaches_instead_of_starting_another(fake):
    fake.add_connection(CONN, Script(statuses=["running"] * 3 + ["succeeded"]))
    fake.inject("POST", "/jobs", delay=1.0, process_first=True)  # job created, answer lost
    with client_for(fake, request_timeout=0.3) as client:
        result = run_sync(client, CONN, **FAST)
    assert result.succeeded and result.job_id == "1001"
    assert len(fake.jobs) == 1 and len(fake.calls("POST", "/jobs")) == 1


def test_409_attaches_to_the_running_job(fake):
    fake.add_connection(CONN, Script(statuses=["running", "succeeded"]))
    running = fake.start_job(CONN)  # started elsewhere (the UI, another scheduler)
    running.status = "running"
    with client_for(fake) as client:
        result = run_sync(client, CONN, **FAST)
    assert result.succeeded and result.job_id == str(running.job_id)
    assert len(fake.jobs) == 1


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_failed_and_cancelled_jobs_fail_the_flow_naming_job_and_connection(
    fake, monkeypatch, final
):
    fake.add_connection(CONN, Script(statuses=["running", final]))
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_CONNECTION_ID", CONN)
    monkeypatch.setenv("AIRBYTE_POLL_INTERVAL_SECONDS", "0.02")
    with pytest.raises(StepFailed) as failure:
        airbyte_sync()
    assert str(failure.value) == f"connection {CONN} job 1001 {final}"


def test_incomplete_attempt_keeps_polling_until_success(fake, caplog):
    caplog.set_level(logging.INFO, logger="elt")
    fake.add_connection(
        CONN, Script(statuses=["running", "incomplete", "incomplete", "running", "succeeded"])
    )
    with client_for(fake) as client:
        assert run_sync(client, CONN, **FAST).succeeded
    changes = [r.getMessage() for r in caplog.records if "Airbyte job 1001" in r.getMessage()]
    assert [m.rsplit(": ", 1)[1] for m in changes] == [
        "pending",
        "running",
        "incomplete",
        "running",
        "succeeded",
    ]  # one line per status change, not per poll


def test_unknown_status_fails_instead_of_looping(fake):
    fake.add_connection(CONN, Script(statuses=["running", "paused_forever"]))
    with (
        client_for(fake) as client,
        pytest.raises(StepFailed, match="unknown status 'paused_forever'"),
    ):
        run_sync(client, CONN, **FAST)


def test_timeout_cancels_the_job(fake):
    fake.add_connection(CONN, Script(statuses=["running"]))
    with client_for(fake) as client:
        (result,) = sync_many(client, [CONN], poll_interval=0.05, timeout=0.3)
    assert result.status == "timeout" and "cancelled it" in result.error
    assert fake.calls("DELETE", "/jobs/1001") == ["/jobs/1001"]
    assert fake.jobs[1001].status == "cancelled"


def test_bad_connection_id_fails_fast_with_a_clear_message(fake):
    with client_for(fake) as client, pytest.raises(AirbyteApiError) as err:
        start_sync(client, "no-such-connection")
    assert "HTTP 404" in str(err.value) and "no-such-connection" in str(err.value)
    assert len(fake.calls("POST", "/jobs")) == 1  # a 404 is not retried


@pytest.mark.parametrize(
    ("auth", "config"),
    [
        ("bearer", {"api_token": SecretStr("wrong-token")}),
        (
            "client_credentials",
            {"client_id": "client-id", "client_secret": SecretStr("wrong-secret")},
        ),
    ],
)
def test_wrong_credentials_fail_fast_and_say_so(auth, config):
    with FakeAirbyte(auth=auth) as fake:
        fake.add_connection(CONN)
        with client_for(fake, **config) as client, pytest.raises(AirbyteApiError) as err:
            start_sync(client, CONN)
        message = str(err.value)
        assert "credentials" in message and "wrong" not in message  # the secret is not echoed
        assert len(fake.requests) == 1


def test_concurrent_connections_bounded_and_every_outcome_reported(fake):
    ids = [fake.add_connection(f"conn-{i}", Script(duration=0.3)) for i in range(6)]
    fake.add_connection("conn-bad", Script(statuses=["running", "failed"]))
    with client_for(fake) as client:
        results = sync_many(
            client, [*ids, "conn-bad"], poll_interval=0.05, timeout=10, max_concurrent=3
        )
    assert [r.connection_id for r in results] == [*ids, "conn-bad"]
    assert [r.status for r in results] == ["succeeded"] * 6 + ["failed"]
    assert 2 <= fake.max_active <= 3  # ran in parallel, never more than the bound


def test_flow_publishes_a_table_and_cli_prints_it(fake, monkeypatch, prefect_api, tmp_path):
    fake.add_connection(CONN, Script(rows=77, bytes=7700))
    fake.add_connection("conn-b", Script(statuses=["running", "failed"]))
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_CONNECTION_ID", f"{CONN}, conn-b")
    monkeypatch.setenv("AIRBYTE_POLL_INTERVAL_SECONDS", "0.02")
    state = airbyte_sync(return_state=True)
    assert state.is_failed()
    (artifact,) = flow_run_artifacts(state.state_details.flow_run_id, "airbyte-sync-results")
    rows = {r["connection"]: r for r in json.loads(artifact["data"])}
    (conn_job,) = [j for j in fake.jobs.values() if j.connection_id == CONN]
    assert rows[CONN]["job_id"] == str(conn_job.job_id)
    assert (rows[CONN]["rows"], rows[CONN]["bytes"]) == (77, 7700)
    assert rows["conn-b"]["status"] == "failed"

    proc = run_elt(
        "sync",
        cwd=tmp_path,
        PREFECT_API_URL=prefect_api,
        AIRBYTE_SERVER_URL=fake.url,
        AIRBYTE_CONNECTION_ID=CONN,
        AIRBYTE_POLL_INTERVAL_SECONDS="0.02",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert CONN in proc.stdout and "1003" in proc.stdout  # the job id
    assert " 77 " in proc.stdout and " 7700 " in proc.stdout  # rows and bytes


def test_sigterm_during_a_sync_cancels_the_airbyte_job(fake, prefect_api, tmp_path):
    """A Prefect worker cancels a flow run with SIGTERM: the running Airbyte job must go too."""
    fake.add_connection(CONN, Script(statuses=["running"]))
    env = cli_env(
        PREFECT_API_URL=prefect_api,
        AIRBYTE_SERVER_URL=fake.url,
        AIRBYTE_CONNECTION_ID=CONN,
        AIRBYTE_POLL_INTERVAL_SECONDS="0.1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while not fake.calls("GET", r"/jobs/\d+") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fake.jobs, "the sync never started"
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert fake.calls("DELETE", "/jobs/1001") == ["/jobs/1001"], output
    assert fake.jobs[1001].status == "cancelled"
