"""The Airbyte API client and job logic against a fake Airbyte server on loopback (real HTTP,
in this process), with no Prefect API: these are plain functions."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from pydantic import SecretStr

from orchestration.airbyte.client import AirbyteClient, RetryPolicy
from orchestration.airbyte.jobs import cancel_job, run_sync, start_sync, sync_one
from orchestration.airbyte.models import JobStatus
from orchestration.config import AirbyteConnection
from orchestration.errors import AirbyteApiError, StepFailed
from tests.fakes.airbyte_server import CONN, FakeAirbyte, Script, client_for, ours_then_a_newer_run

FAST = {"poll_interval": 0.02, "timeout": 10.0}


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
            assert client.get_job(job.job_id).status is JobStatus.RUNNING
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
        pytest.raises(StepFailed, match="unknown status 'paused_forever'; stopped polling and "),
    ):
        run_sync(client, CONN, **FAST)
    assert fake.calls("DELETE") == []  # a status we do not understand is no reason to cancel
    assert any("GET /jobs/1001: ('status',)" in v for v in fake.violations)  # not in the spec
    fake.violations.clear()


def test_timeout_cancels_the_job(fake):
    fake.add_connection(CONN, Script(statuses=["running"]))
    with client_for(fake) as client:
        result = sync_one(client, CONN, poll_interval=0.05, timeout=0.3)
    assert result.status == "timeout" and "cancelled it" in result.error
    assert fake.calls("DELETE", "/jobs/1001") == ["/jobs/1001"]
    assert fake.jobs[1001].status == "cancelled"


def test_bad_connection_id_fails_fast_with_a_clear_message(fake):
    with client_for(fake) as client, pytest.raises(AirbyteApiError) as err:
        start_sync(client, "no-such-connection")
    assert "HTTP 404" in str(err.value) and "no-such-connection" in str(err.value)
    assert len(fake.calls("POST", "/jobs")) == 1  # a 404 is not retried


WRONG_SECRET = {"client_id": "client-id", "client_secret": SecretStr("wrong-secret")}


@pytest.mark.parametrize(
    ("auth", "backend", "config", "names"),
    [
        ("bearer", "database", {"api_token": SecretStr("wrong-token")}, "AIRBYTE_API_TOKEN"),
        # self-managed without Keycloak: the applications backend answers 500 {"errorId"}
        ("client_credentials", "database", WRONG_SECRET, "AIRBYTE_CLIENT_SECRET"),
        ("client_credentials", "keycloak", WRONG_SECRET, "AIRBYTE_CLIENT_SECRET"),
    ],
    ids=["bearer", "client-credentials-database", "client-credentials-keycloak"],
)
def test_wrong_credentials_fail_fast_and_say_so(auth, backend, config, names):
    with FakeAirbyte(auth=auth, credentials_backend=backend) as fake:
        fake.add_connection(CONN)
        started = time.monotonic()
        with client_for(fake, **config) as client, pytest.raises(AirbyteApiError) as err:
            start_sync(client, CONN)
        message = str(err.value)
        assert time.monotonic() - started < 5
        assert "credentials" in message and names in message
        assert "wrong" not in message  # the secret is not echoed
        assert len(fake.requests) == 1


def test_an_outage_of_the_token_endpoint_is_still_waited_out():
    """A 502/503 from a proxy (no errorId body: the server did not answer) is an outage."""
    with FakeAirbyte(auth="client_credentials") as fake:
        fake.add_connection(CONN)
        fake.inject("POST", "/applications/token", status=503, times=2)
        with client_for(fake, client_id="client-id", client_secret=SecretStr("client-secret")) as c:
            job = start_sync(c, CONN)
        assert job.job_id == "1001" and len(fake.calls("POST", "/applications/token")) == 3


def test_an_inactive_connection_fails_at_once_with_its_name_and_airbytes_reason(fake):
    fake.add_connection(CONN, name="Postgres -> Snowflake", status="inactive")
    started = time.monotonic()
    with client_for(fake) as client, pytest.raises(AirbyteApiError) as err:
        start_sync(client, CONN, deadline=time.monotonic() + 60)
    assert time.monotonic() - started < 5
    assert str(err.value) == (
        f"connection 'Postgres -> Snowflake' ({CONN}) is inactive and Airbyte will not sync it "
        "(Airbyte: HTTP 409 state-conflict: Could not fulfill request): enable it in Airbyte"
    )
    assert fake.calls("POST", "/jobs") == ["/jobs"]  # not retried
    assert fake.calls("GET", f"/connections/{CONN}") == [f"/connections/{CONN}"]


def test_a_host_that_does_not_resolve_fails_at_once_naming_the_setting():
    block = AirbyteConnection(server_url="http://airbyte.invalid:8000/api/public/v1")
    started = time.monotonic()
    with (
        block.client(retry=RetryPolicy(max_attempts=4)) as client,
        pytest.raises(AirbyteApiError) as err,
    ):
        start_sync(client, CONN, deadline=time.monotonic() + 60)
    assert time.monotonic() - started < 10
    assert "'airbyte.invalid' does not resolve" in str(err.value)
    assert "AIRBYTE_SERVER_URL" in str(err.value)


def test_the_running_job_is_found_past_the_first_page_of_a_busy_connection():
    """Resets are filtered out by the server (`jobType=sync`); a server that lists the oldest
    first (one that ignores `orderBy`) puts the running sync last: the client pages on."""
    with FakeAirbyte(lists_oldest_first=True) as fake:
        fake.add_connection(CONN, Script(statuses=["running"]))
        for _ in range(45):  # a long history of finished syncs and resets
            fake.start_job(CONN, "reset").set_status("succeeded")
            fake.start_job(CONN).set_status("succeeded")
        running = fake.start_job(CONN)
        with client_for(fake) as client:
            job = start_sync(client, CONN)
        assert job.job_id == str(running.job_id)
        listed = fake.calls("GET", r"/jobs\?.*")
        assert all("jobType=sync" in q for q in listed) and len(listed) == 3  # 20 + 20 + 6
        assert len(fake.jobs) == 91 and fake.calls("POST", "/jobs") == ["/jobs"]  # the 409


@pytest.mark.parametrize(
    ("skew", "fault"),
    [
        # two minutes behind: by the client's clock the job the POST created looks old
        (-120.0, {"process_first": True, "delay": 1.0}),
        # two minutes ahead: by the client's clock last minute's finished sync looks new
        (120.0, {"status": 500}),
    ],
    ids=["server-behind-reply-lost", "server-ahead-request-failed"],
)
def test_a_failed_post_is_judged_by_the_servers_clock_never_the_clients(skew, fault):
    """After a POST whose outcome is unknown, "the job it created" is one created since, by
    the server's clock (the `Date` of its reply): exactly one new job, the one attached to."""
    with FakeAirbyte(clock_skew=skew) as fake:
        fake.add_connection(CONN, Script(duration=0.2))  # over before a retry could attach
        old = fake.start_job(CONN)
        old.set_status("succeeded")
        old.created -= 60  # a finished sync of a minute ago
        fake.inject("POST", "/jobs", **fault)
        with client_for(fake, request_timeout=0.3) as client:
            job = start_sync(client, CONN)
        assert job.job_id == "1002" and len(fake.jobs) == 2


def test_outages_longer_than_every_retry_are_waited_out_and_nothing_is_cancelled(caplog):
    """The API stops answering (connections dropped) while jobs run: both syncs succeed. The
    client's retries here give up after about 0.2 s of attempts; outages 10 and 20 times as long
    are ridden out by the sync's deadline alone. (tests/unit/test_retry_budget.py checks that the
    shipped retries give up within 31 s: the same holds for real outages of minutes.)"""
    caplog.set_level(logging.INFO, logger="elt")
    results: dict[int, object] = {}

    def sync_through_outage(fake: FakeAirbyte, outage: int) -> None:
        fake.add_connection(CONN, Script(duration=outage + 1.5))

        def outage_once_polled() -> None:  # the API goes away while the job runs
            deadline = time.monotonic() + 60
            while not fake.calls("GET", r"/jobs/\d+") and time.monotonic() < deadline:
                time.sleep(0.05)
            fake.outage(outage)

        threading.Thread(target=outage_once_polled, daemon=True).start()
        with client_for(fake, backoff_max=2.0) as client:
            results[outage] = run_sync(client, CONN, poll_interval=0.2, timeout=600)
        assert fake.jobs[1001].status == "succeeded"

    with FakeAirbyte() as short, FakeAirbyte() as long:
        threads = [
            threading.Thread(target=sync_through_outage, args=(fake, seconds))
            for fake, seconds in ((short, 2), (long, 4))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert short.dropped > 0 and long.dropped > 0
        assert short.calls("DELETE") == [] and long.calls("DELETE") == []
        assert len(short.jobs) == len(long.jobs) == 1
    assert [r.succeeded for r in results.values()] == [True, True]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Airbyte API unreachable" in m for m in messages) == 2  # one line per outage
    assert sum("Airbyte API reachable again" in m for m in messages) == 2


def test_a_malformed_reply_while_polling_is_retried_not_acted_on(fake):
    fake.add_connection(CONN, Script(statuses=["running", "running", "succeeded"]))
    html = b"<html><body>502 Bad Gateway</body></html>"
    fake.inject("GET", r"/jobs/\d+", body=html, content_type="text/html", times=1)
    fake.inject("GET", r"/jobs/\d+", body=b'{"jobId": 1001, "sta', times=1)  # truncated
    with client_for(fake) as client:
        assert run_sync(client, CONN, **FAST).succeeded
    assert fake.calls("DELETE") == []


def test_a_non_json_reply_says_what_came_back_and_from_where(fake):
    fake.add_connection(CONN)
    page = {"body": b"<html>proxy error</html>", "content_type": "text/html", "times": 9}
    fake.inject("POST", "/jobs", **page)
    fake.inject("GET", "/jobs", **page)
    with client_for(fake) as client, pytest.raises(StepFailed) as failure:
        run_sync(client, CONN, poll_interval=0.02, timeout=0.5)
    message = str(failure.value)
    assert f"{fake.url}/jobs: HTTP 200 with a body that is not a JSON object (text/html" in message
    assert "b'<html>proxy error</html>'" in message
    assert len(fake.jobs) == 0


def test_a_cancel_is_reported_only_once_airbyte_confirms_it(fake):
    fake.add_connection(CONN, Script(statuses=["running"]))
    with client_for(fake) as client:
        result = sync_one(client, CONN, poll_interval=0.05, timeout=0.3)
    assert result.error.endswith("(AIRBYTE_TIMEOUT_SECONDS); cancelled it")
    assert fake.calls("GET", "/jobs/1001")[-1:] == ["/jobs/1001"]  # read back after DELETE


def test_409_attaches_to_a_queued_job(fake):
    fake.add_connection(CONN, Script(statuses=["running", "succeeded"]))
    queued = fake.start_job(CONN)
    queued.status = "queued"
    with client_for(fake) as client:
        result = run_sync(client, CONN, **FAST)
    assert result.succeeded and result.job_id == str(queued.job_id)
    assert len(fake.jobs) == 1


def test_the_reason_comes_from_the_problem_documents_data_message(fake):
    fake.add_connection(CONN)
    fake.inject("POST", "/jobs", status=422, times=1)
    with client_for(fake) as client, pytest.raises(AirbyteApiError) as err:
        start_sync(client, CONN)
    assert str(err.value).endswith("(HTTP 422): injected fault")


def test_connection_refused_names_the_host_and_port_and_the_failed_request():
    from tests.fakes.s3 import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/api/public/v1"
    with (
        AirbyteClient(url, sleep=lambda s: time.sleep(min(s, 0.05))) as client,
        pytest.raises(StepFailed) as failure,
    ):
        run_sync(client, CONN, poll_interval=0.02, timeout=0.5)
    message = str(failure.value)
    assert f"POST http://127.0.0.1:{port}/api/public/v1/jobs: cannot connect to " in message
    assert f"127.0.0.1:{port}" in message


def test_cancelling_a_job_that_ended_never_stops_a_newer_run_of_the_connection(fake):
    """Airbyte cancels a connection's *current* job whatever id the DELETE names: a cancel of
    our job, sent after it ended, would stop the run the scheduler started since."""
    ours, newer = ours_then_a_newer_run(fake, "succeeded")
    with client_for(fake) as client:
        outcome = cancel_job(client, str(ours.job_id), CONN)
    assert outcome == "it ended succeeded before it could be cancelled"
    assert newer.status == "running" and fake.calls("DELETE") == []


def test_a_job_that_succeeds_as_the_timeout_passes_is_a_success_and_a_newer_run_runs_on(fake):
    """At the timeout the job has just succeeded and the scheduler started a newer run: no
    cancel is sent (it would stop the newer run), and the sync is the success it was."""
    fake.add_connection(CONN, Script(statuses=["running"] * 1000))
    newer: list[int] = []

    def succeed_then_a_newer_run() -> None:
        fake.jobs[1001].set_status("succeeded")
        newer.append(fake._create_job(CONN).job_id)

    # the first listing after the timeout: the cancel's check of the connection's running job
    fake.when(r"GET /jobs", succeed_then_a_newer_run, after=time.monotonic() + 1.0)
    with client_for(fake) as client:
        result = sync_one(client, CONN, poll_interval=0.1, timeout=1.0)
    assert result.status == "succeeded" and result.job_id == "1001", result.error
    assert fake.jobs[newer[0]].status == "pending" and fake.calls("DELETE") == []  # untouched
