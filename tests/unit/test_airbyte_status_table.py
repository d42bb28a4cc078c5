"""The Airbyte client's answer to every kind of reply, in-process (httpx's MockTransport): what
is retried, what fails at once and with which message, and how many requests each takes.

The fake Airbyte server (tests/fakes/airbyte_server.py) proves the same journeys over real HTTP
against the vendor's models; this table is the client's own contract, fast enough to list
every case."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from orchestration.airbyte.auth import ClientCredentials
from orchestration.airbyte.client import AirbyteClient, RetryPolicy
from orchestration.errors import AirbyteApiError, AirbyteTransientError, TransientError, UserError

URL = "http://airbyte.test/api/public/v1"
JOB = {"jobId": 7, "status": "running", "jobType": "sync", "connectionId": "c"}
PROBLEM = {"title": "bad-request", "detail": "Please try again later.", "data": {"message": "no"}}


def replies(*answers: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A transport handler answering each request with the next answer (the last one repeats)."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle


class Recorder:
    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[str] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return self.handler(request)

    def client(self, auth: httpx.Auth | None = None, attempts: int = 3) -> AirbyteClient:
        return AirbyteClient(
            URL,
            auth,
            retry=RetryPolicy(max_attempts=attempts, backoff_initial=0.5, backoff_max=4),
            sleep=self.sleeps.append,
            transport=httpx.MockTransport(self),
        )


def ok(body: object = JOB, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


CASES = {
    # name: (answers, expected error type or None, requests made, text in the error)
    "200": ([ok()], None, 1, ""),
    "429 then 200": ([ok(PROBLEM, 429, **{"Retry-After": "2"}), ok()], None, 2, ""),
    "503 then 200": ([ok(PROBLEM, 503), ok()], None, 2, ""),
    "an HTML page then 200": (
        [httpx.Response(200, text="<html>proxy</html>"), ok()],
        None,
        2,
        "",
    ),
    "500 every time": ([ok(PROBLEM, 500)], AirbyteTransientError, 3, "gave up after 3 attempts"),
    "400": ([ok(PROBLEM, 400)], AirbyteApiError, 1, "(HTTP 400): no"),
    "404": ([ok(PROBLEM, 404)], AirbyteApiError, 1, "has no such resource (HTTP 404)"),
    "422": ([ok(PROBLEM, 422)], AirbyteApiError, 1, "(HTTP 422): no"),
    "401": ([ok(PROBLEM, 401)], AirbyteApiError, 1, "rejected the credentials (HTTP 401)"),
    "connection refused": (
        [httpx.ConnectError("refused")],
        AirbyteTransientError,
        3,
        "cannot connect to airbyte.test:80 (refused)",
    ),
    "read timeout then 200": ([httpx.ReadTimeout("slow"), ok()], None, 2, ""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_reply_is_retried_or_fails_as_the_table_says(case):
    answers, error, requests, text = CASES[case]
    recorder = Recorder(replies(*answers))
    with recorder.client() as client:
        if error is None:
            assert client.get_job("7").job_id == "7"
        else:
            with pytest.raises(error) as raised:
                client.get_job("7")
            assert text in str(raised.value)
    assert len(recorder.requests) == requests, recorder.requests
    assert len(recorder.sleeps) == requests - 1  # a wait before each retry, none after the last


def test_retry_after_is_honoured_and_capped():
    recorder = Recorder(replies(ok(PROBLEM, 429, **{"Retry-After": "2"}), ok()))
    with recorder.client() as client:
        client.get_job("7")
    assert recorder.sleeps == [2.0]
    recorder = Recorder(replies(ok(PROBLEM, 429, **{"Retry-After": "86400"}), ok()))
    with recorder.client() as client:
        client.get_job("7")
    assert recorder.sleeps == [300.0]  # a day is no wait a sync should take on trust


def test_a_post_that_may_have_created_a_job_is_not_retried_here():
    recorder = Recorder(replies(httpx.ReadTimeout("slow"), ok()))
    with recorder.client() as client, pytest.raises(AirbyteTransientError) as raised:
        client.create_sync_job("c")
    assert raised.value.request_sent  # the server may have acted: jobs.start_sync decides
    assert recorder.requests == ["POST /api/public/v1/jobs"]


def test_an_error_kind_says_what_the_caller_does():
    assert issubclass(AirbyteApiError, UserError)  # fix something: never retried
    assert issubclass(AirbyteTransientError, TransientError)  # retried within a deadline


def token_server(token_reply: httpx.Response) -> Recorder:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/applications/token"):
            return token_reply
        return ok()

    return Recorder(handle)


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        (
            ok({"message": "Internal Server Error", "errorId": "e-1"}, 500),
            AirbyteApiError,
            "refused the client credentials at",
        ),
        (ok({"message": "Unauthorized"}, 401), AirbyteApiError, "(HTTP 401)"),
        (ok(PROBLEM, 503), AirbyteTransientError, "gave up after 3 attempts"),
    ],
    ids=["500 with errorId: a wrong secret", "401", "503: an outage"],
)
def test_a_token_request_that_fails_is_named_or_retried(reply, error, text):
    recorder = token_server(reply)
    auth = ClientCredentials(f"{URL}/applications/token", "id", "not-the-secret")
    with recorder.client(auth) as client, pytest.raises(error) as raised:
        client.get_job("7")
    assert text in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert not any(r.endswith("/jobs/7") for r in recorder.requests)  # never sent untokened
