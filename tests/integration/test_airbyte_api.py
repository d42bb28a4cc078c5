"""The airbyte_sync flow and `elt sync` against a fake Airbyte server on loopback (real HTTP),
with the session's Prefect API: task runs, artifacts, events, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from orchestration.airbyte.jobs import cancel_job, sync_one
from orchestration.errors import AirbyteSyncFailed, StepFailed, UserError
from orchestration.flows.airbyte_sync import airbyte_sync
from tests.conftest import cli_env, flow_run_artifacts, run_elt, wait_until
from tests.fakes.airbyte_server import CONN, Script, client_for, ours_then_a_newer_run


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
    name = fake.connections[CONN].name  # from GET /connections/{id}
    assert str(failure.value) == f"connection {name!r} ({CONN}) job 1001 {final}"


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
    # explicit ids are named too: connection, source and destination (one source and one
    # destination shared by both: read once each)
    assert (rows[CONN]["name"], rows[CONN]["source"], rows[CONN]["destination"]) == (
        "Faker -> Warehouse 1",
        "Faker",
        "Warehouse",
    )
    assert (
        len(fake.calls("GET", r"/sources/.*")) == len(fake.calls("GET", r"/destinations/.*")) == 1
    )

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

    both = run_elt(
        "sync", cwd=tmp_path, PREFECT_API_URL=prefect_api, AIRBYTE_SERVER_URL=fake.url,
        AIRBYTE_CONNECTION_ID=f"{CONN},conn-b", AIRBYTE_POLL_INTERVAL_SECONDS="0.02",
    )  # fmt: skip
    assert both.returncode == 1
    assert CONN in both.stdout and "conn-b" in both.stdout  # the table shows every connection
    assert "error: connection 'Faker -> Warehouse 2' (conn-b) job " in both.stderr  # its name
    assert " failed" in both.stderr
    assert "Traceback" not in both.stderr


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
    wait_until(lambda: fake.calls("GET", r"/jobs/\d+"), "the sync polls its job", 120, 0.1)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert fake.calls("DELETE", "/jobs/1001") == ["/jobs/1001"], output
    assert fake.jobs[1001].status == "cancelled"


# --- production faults: outages, malformed replies, failed cancels --------------------------


def test_a_cancel_that_fails_says_the_job_may_still_run_and_emits_an_event(fake, prefect_api):
    from datetime import UTC, datetime

    from tests.conftest import read_events

    since = datetime.now(UTC).isoformat()
    fake.add_connection(CONN, Script(statuses=["running"]))
    fake.inject("DELETE", r"/jobs/\d+", status=500, times=1000)
    with client_for(fake) as client:
        result = sync_one(client, CONN, poll_interval=0.05, timeout=0.3, cancel_timeout=0.5)
    assert result.status == "timeout" and result.job_id == "1001"
    assert "cancelled it" not in result.error
    assert "could not cancel Airbyte job 1001: it may still be running (DELETE" in result.error
    assert fake.jobs[1001].status == "running"
    events = wait_until(
        lambda: read_events("elt.airbyte.cancel_failed", since),
        "an elt.airbyte.cancel_failed event",
        timeout=60,
    )
    assert events[0]["resource"]["prefect.resource.id"] == "elt.airbyte.job.1001"
    assert events[0]["payload"]["connection_id"] == CONN


def test_duplicate_connections_and_a_zero_concurrency_are_refused(fake, tmp_path, cli):
    fake.add_connection(CONN)
    twice = cli("sync", "-c", CONN, "-c", CONN, cwd=tmp_path, AIRBYTE_SERVER_URL=fake.url)
    assert twice.returncode == 1
    assert f"error: connection id(s) given more than once: {CONN}: list each" in twice.stderr
    assert fake.requests == []
    zero = cli(
        "sync", "--max-concurrent", "0",
        cwd=tmp_path, AIRBYTE_SERVER_URL=fake.url, AIRBYTE_CONNECTION_ID=CONN,
    )  # fmt: skip
    assert zero.returncode == 1
    assert "--max-concurrent: Input should be greater than or equal to 1 (got 0)" in zero.stderr
    assert fake.requests == []


def test_concurrent_connections_bounded_and_every_outcome_reported(fake, monkeypatch, prefect_api):
    ids = [fake.add_connection(f"conn-{i}", Script(duration=0.3)) for i in range(6)]
    fake.add_connection("conn-bad", Script(statuses=["running", "failed"]))
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_POLL_INTERVAL_SECONDS", "0.05")
    with pytest.raises(AirbyteSyncFailed) as failure:
        airbyte_sync(connection_ids=[*ids, "conn-bad"], max_concurrent=3)
    results = failure.value.results
    assert [r.connection_id for r in results] == [*ids, "conn-bad"]
    assert [r.status for r in results] == ["succeeded"] * 6 + ["failed"]
    assert 2 <= fake.max_active <= 3  # ran in parallel, never more than the bound


def test_each_connection_is_a_task_run_whose_story_is_in_the_flow_run_logs(
    fake, monkeypatch, prefect_api, tmp_path
):
    from prefect.client.orchestration import get_client

    fake.add_connection(CONN, Script(statuses=["running", "succeeded"]))
    fake.add_connection("conn-b", Script(statuses=["queued", "running", "failed"]))
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_CONNECTION_ID", f"{CONN},conn-b")
    monkeypatch.setenv("AIRBYTE_POLL_INTERVAL_SECONDS", "0.02")
    state = airbyte_sync(return_state=True)
    jobs = {j.connection_id: j.job_id for j in fake.jobs.values()}
    assert state.is_failed()
    named = f"connection {fake.connections['conn-b'].name!r} (conn-b)"
    assert state.message.endswith(f"{named} job {jobs['conn-b']} failed")
    flow_run_id = str(state.state_details.flow_run_id)
    b, a = jobs["conn-b"], jobs[CONN]
    # each task run is named after its connection (read before the syncs), so every log line
    # under it carries the name, in the UI and on the terminal
    task_b, task_a = (f"sync {fake.connections[c].name}" for c in ("conn-b", CONN))
    expected = {
        (task_b, f"Airbyte job {b} (connection conn-b): queued"),
        (task_b, f"Airbyte job {b} (connection conn-b): failed"),
        (task_a, f"Airbyte job {a} (connection {CONN}): succeeded"),
    }
    deadline = time.monotonic() + 60  # logs reach the API in batches
    while True:
        with get_client(sync_client=True) as client:
            tasks = client.request(
                "POST", "/task_runs/filter", json={"flow_runs": {"id": {"any_": [flow_run_id]}}}
            ).json()
            logs = client.request(
                "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}}
            ).json()
        by_task = {t["id"]: t["name"] for t in tasks}
        told = {(by_task.get(row["task_run_id"]), row["message"]) for row in logs}
        if expected <= told or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert expected <= told
    states = {t["name"]: t["state"]["type"] for t in tasks}
    assert states == {task_a: "COMPLETED", task_b: "FAILED"}


def test_a_password_in_the_server_url_is_refused_never_printed_logged_or_stored(
    fake, prefect_api, tmp_path
):
    """A URL is shown and saved in clear (logs, `elt blocks register`, the block's document
    and its events): credentials in it are refused, naming the variables to use instead."""
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client

    since = datetime.now(UTC).isoformat()
    secret = "S3cr3t-in-url"
    url = fake.url.replace("http://", f"http://admin:{secret}@")
    proc = run_elt(
        "sync", cwd=tmp_path, PREFECT_API_URL=prefect_api,
        AIRBYTE_SERVER_URL=url, AIRBYTE_CONNECTION_ID="no-such-connection",
    )  # fmt: skip
    assert proc.returncode == 1
    assert "http://***@127.0.0.1:" in proc.stderr  # the URL is named, its password is not
    assert "holds credentials (user:password@): remove them from the URL and set " in proc.stderr
    register = run_elt(
        "blocks", "register", "--name", "leaky", cwd=tmp_path, PREFECT_API_URL=prefect_api,
        AIRBYTE_SERVER_URL=url, AIRBYTE_CONNECTION_ID="conn-1",
    )  # fmt: skip
    assert register.returncode == 1 and "holds credentials" in register.stderr
    with get_client(sync_client=True) as client:
        runs = client.request(
            "POST", "/flow_runs/filter", json={"sort": "EXPECTED_START_TIME_DESC", "limit": 5}
        ).json()
        logs = client.request("POST", "/logs/filter", json={"limit": 200}).json()
        events = client.request(
            "POST", "/events/filter", json={"filter": {"occurred": {"since": since}}, "limit": 50}
        ).json()
    stored = json.dumps([runs, logs, events])
    for text in (proc.stdout, proc.stderr, register.stdout, register.stderr, stored):
        assert secret not in text


WORKSPACE = "6f2d8a41-5b7e-4c11-9d3a-0a1b2c3d4e5f"


def test_a_workspace_syncs_its_active_connections_matching_by_name_each_a_named_task_run(
    fake, monkeypatch
):
    """No ids: every active connection of the workspace whose name matches, listed page
    after page, each synced as a task run named after it; results carry name and streams."""
    wanted = [
        fake.add_connection(
            f"pg-{i:02d}",
            name=f"Postgres {i:02d} -> Snowflake",
            workspace_id=WORKSPACE,
            source=f"Postgres {i % 3}",
            destination="Snowflake",
        )
        for i in range(12)
    ]
    fake.add_connection(
        "pg-off", name="Postgres off -> Snowflake", status="inactive", workspace_id=WORKSPACE
    )
    fake.add_connection("mysql", name="MySQL -> Snowflake", workspace_id=WORKSPACE)
    fake.add_connection("elsewhere", name="Postgres 99 -> Snowflake", workspace_id="another")
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_WORKSPACE_ID", WORKSPACE)
    monkeypatch.setenv("AIRBYTE_CONNECTIONS", "Postgres * -> Snowflake")
    monkeypatch.setenv("AIRBYTE_POLL_INTERVAL_SECONDS", "0.02")
    monkeypatch.delenv("AIRBYTE_CONNECTION_ID", raising=False)
    state = airbyte_sync(return_state=True)
    assert state.is_completed(), state.message
    results = state.result()
    assert sorted(r.connection_id for r in results) == wanted
    assert {j.connection_id for j in fake.jobs.values()} == set(wanted)  # no other job
    first = next(r for r in results if r.connection_id == "pg-00")
    assert first.connection_name == "Postgres 00 -> Snowflake"
    assert first.connection_streams == ("users", "products", "purchases")
    assert (first.source_name, first.destination_name) == ("Postgres 0", "Snowflake")
    assert next(r for r in results if r.connection_id == "pg-11").source_name == "Postgres 2"
    listed = fake.calls("GET", r"/connections\?.*")
    assert len(listed) == 2 and "offset=100" in listed[1]  # read to the empty page
    # the names of 12 connections' sources and destinations: a listing each, not 24 requests
    assert len(fake.calls("GET", r"/(sources|destinations)\?.*")) == 4
    assert not fake.calls("GET", r"/(sources|destinations|connections)/.*")

    from prefect.client.orchestration import get_client

    def task_run_names() -> set[str]:  # the server records task runs from their events, later
        with get_client(sync_client=True) as client:
            tasks = client.request(
                "POST",
                "/task_runs/filter",
                json={"flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}}},
            ).json()
        return {t["name"] for t in tasks}

    expected = {f"sync Postgres {i:02d} -> Snowflake" for i in range(12)}
    wait_until(lambda: expected <= task_run_names(), "a task run named after each connection")


def test_a_workspace_selection_that_finds_nothing_lists_what_is_there(fake, monkeypatch):
    fake.add_connection("pg", name="Postgres -> Snowflake", workspace_id=WORKSPACE)
    monkeypatch.setenv("AIRBYTE_SERVER_URL", fake.url)
    monkeypatch.setenv("AIRBYTE_WORKSPACE_ID", WORKSPACE)
    monkeypatch.setenv("AIRBYTE_CONNECTIONS", "Postgress*")  # a typo
    monkeypatch.delenv("AIRBYTE_CONNECTION_ID", raising=False)
    with pytest.raises(UserError) as err:
        airbyte_sync()
    assert str(err.value) == (
        f"Airbyte workspace {WORKSPACE} has no active connection matching 'Postgress*' (it "
        "has 1: 'Postgres -> Snowflake'): check AIRBYTE_CONNECTIONS and AIRBYTE_WORKSPACE_ID"
    )
    assert not fake.jobs


def test_a_job_that_is_not_the_connections_running_one_is_never_cancelled(fake, prefect_api):
    """Our job still reads `running` but the connection runs another (its workflow moved on):
    a DELETE would stop that one, so none is sent, and the report says why (and an event,
    on the session's Prefect API, says the job may still run)."""
    ours, other = ours_then_a_newer_run(fake, "running")
    with client_for(fake) as client:
        outcome = cancel_job(client, str(ours.job_id), CONN, cancel_timeout=5)
    assert outcome.startswith(f"could not cancel Airbyte job {ours.job_id}: it may still be")
    assert f"the connection runs job {other.job_id} now" in outcome
    assert other.status == "running" and fake.calls("DELETE") == []
