"""`make parity`, Airbyte: this project's `airbyte_sync` flow (as users run it, on a Prefect
server of its own) and dagster-airbyte's `AirbyteWorkspace` (`sync_and_poll`, its defaults)
against the same fake Airbyte server, scenario by scenario: final outcome, jobs created, API
requests, jobs cancelled, jobs left running.

Each side gets a fresh fake server per scenario, scripted the same way. The fake also serves the
configuration API call dagster-airbyte makes (`POST /api/v1/connections/get`)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.errors import AirbyteSyncFailed, first_line
from orchestration.flows.airbyte_sync import airbyte_sync
from tests.fakes.airbyte_server import TERMINAL, FakeAirbyte, Script
from tests.servers import bench_api_for_this_process

REPO = Path(__file__).resolve().parents[1]
PARITY_PYTHON = REPO / "parity" / ".venv" / "bin" / "python"
SYNC = REPO / "parity" / "dagster_airbyte_sync.py"
SIDES = ("elt airbyte_sync", "dagster-airbyte")
POLL = 0.5
WORKSPACE = "5ae6b09b-fdec-41af-aaf7-7d94cfc33ef6"


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    script: Callable[[], Script]
    prepare: Callable[[FakeAirbyte, list[str]], None] = lambda fake, ids: None
    timeout: float = 120.0
    concurrency: int = 4
    fake_options: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None  # the client secret both sides are given (else the right one)
    workspace: bool = False  # sync the workspace's connections, found by listing them
    # what else to say of the outcome, read from the fake afterwards
    note: Callable[[FakeAirbyte], str] = lambda fake: ""


def when_polled(fake: FakeAirbyte, action: Callable[[], None]) -> None:
    """Run `action` once the first job has been polled: a fault that strikes mid-poll."""

    def wait() -> None:
        deadline = time.monotonic() + 60
        while not fake.calls("GET", r"/jobs/\d+") and time.monotonic() < deadline:
            time.sleep(0.02)
        action()

    threading.Thread(target=wait, daemon=True).start()


def inactive(fake: FakeAirbyte, ids: list[str]) -> None:
    for connection_id in ids:
        fake.connections[connection_id].status = "inactive"


def long_history(fake: FakeAirbyte, ids: list[str]) -> None:
    """90 finished jobs (syncs and resets) of the last day, then a sync started elsewhere:
    listed oldest first (the server's default order), it is past the first pages."""
    for connection_id in ids:
        for _ in range(45):
            fake.start_job(connection_id, "reset").set_status("succeeded")
            fake.start_job(connection_id).set_status("succeeded")
        fake.start_job(connection_id)


NEWER_RUN: dict[int, int] = {}  # the fake's id -> the newer run's job id


def ends_as_the_client_gives_up(fake: FakeAirbyte, ids: list[str]) -> None:
    """At the first cancel decision after the timeout (our listing of the connection's jobs,
    Dagster's DELETE), the job has just ended and the scheduler started a newer run."""

    def end_and_start_a_newer_run() -> None:
        fake.jobs[1001].set_status("succeeded")
        NEWER_RUN[id(fake)] = fake._create_job(ids[0]).job_id  # under the server's lock

    fake.when(
        r"GET /jobs|DELETE /jobs/1001",
        end_and_start_a_newer_run,
        after=time.monotonic() + 2.5,  # past the sides' first listings, before their timeout
    )


def newer_run(fake: FakeAirbyte) -> str:
    job = fake.jobs.get(NEWER_RUN.get(id(fake), 0))
    return f"the newer run {job.status}" if job else "no newer run"


def started_elsewhere(fake: FakeAirbyte, ids: list[str]) -> None:
    """A sync of each connection is already running, started by someone else (the UI)."""
    for connection_id in ids:
        fake.start_job(connection_id)


SCENARIOS = [
    Scenario(
        "a sync already running (409)",
        1,
        lambda: Script(statuses=["running", "running", "succeeded"]),
        lambda fake, ids: started_elsewhere(fake, ids),
    ),
    Scenario(
        "503 on the first POST /jobs",
        1,
        lambda: Script(statuses=["running", "succeeded"]),
        lambda fake, ids: fake.inject("POST", "/jobs", status=503),
    ),
    Scenario(
        "token expires mid-poll",
        1,
        lambda: Script(statuses=["running"] * 4 + ["succeeded"]),
        lambda fake, ids: when_polled(fake, fake.expire_tokens),
    ),
    Scenario(
        "API outage of 10 s mid-poll",
        1,
        lambda: Script(duration=14),
        lambda fake, ids: when_polled(fake, lambda: fake.outage(10)),
    ),
    Scenario("a job that outlives the timeout (3 s)", 1, lambda: Script(duration=60), timeout=3),
    Scenario(
        "50 connections, 2 s jobs, 10 at once", 50, lambda: Script(duration=2), concurrency=10
    ),
    Scenario("an inactive connection (409)", 1, Script, inactive, timeout=30),
    Scenario(
        "a wrong client secret (500 errorId)",
        1,
        Script,
        timeout=30,
        secret="not-the-secret",
        fake_options={"credentials_backend": "database"},
    ),
    Scenario(
        "a running sync past the first page (90 older jobs)",
        1,
        lambda: Script(statuses=["running", "running", "succeeded"]),
        long_history,
    ),
    Scenario(
        "timeout as the job ends and a newer run starts",
        1,
        lambda: Script(statuses=["running"] * 1000),
        ends_as_the_client_gives_up,
        timeout=3,
        note=newer_run,
    ),
    Scenario(
        "a 200-connection workspace, 1 s jobs, 20 at once",
        200,
        lambda: Script(duration=1),
        concurrency=20,
        workspace=True,
    ),
]


@dataclass
class Result:
    outcome: str
    jobs_created: int
    requests: int
    cancelled: int
    left_running: int
    seconds: float

    def cell(self) -> str:
        return (
            f"{self.outcome}; {self.jobs_created} job(s) created, {self.requests} requests, "
            f"{self.cancelled} cancelled, {self.left_running} left running ({self.seconds:.1f} s)"
        )


def summarize(outcomes: list[str]) -> str:
    ok = sum(o == "succeeded" for o in outcomes)
    if ok == len(outcomes):
        return f"{ok}/{len(outcomes)} succeeded" if len(outcomes) > 1 else "succeeded"
    failure = next(o for o in outcomes if o != "succeeded").removeprefix("failed: ")
    return f"{ok}/{len(outcomes)} succeeded; failed: {failure[:160]}"


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """These variables set for the flow to read, as a user's environment would hold them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ours(fake: FakeAirbyte, ids: list[str], scenario: Scenario) -> list[str]:
    settings = {
        "AIRBYTE_SERVER_URL": fake.url,
        "AIRBYTE_CLIENT_ID": fake.client_id,
        "AIRBYTE_CLIENT_SECRET": scenario.secret or fake.client_secret,
        "AIRBYTE_TIMEOUT_SECONDS": str(scenario.timeout),
        "AIRBYTE_POLL_INTERVAL_SECONDS": str(POLL),
        "AIRBYTE_WORKSPACE_ID": WORKSPACE if scenario.workspace else "",
    }
    with environment(**settings):
        try:
            results = airbyte_sync(
                connection_ids=None if scenario.workspace else ids,
                max_concurrent=scenario.concurrency,
            )
        except AirbyteSyncFailed as failure:
            results = failure.results
        except Exception as exc:  # the flow failed before any sync (e.g. the listing)
            return [f"failed: {first_line(exc)}"] * len(ids)
    return ["succeeded" if r.succeeded else f"failed: {r.failure_line()}" for r in results]


def dagster(fake: FakeAirbyte, ids: list[str], scenario: Scenario) -> list[str]:
    request = {
        "rest": fake.url,
        "configuration": fake.configuration_url,
        "client_id": fake.client_id,
        "client_secret": scenario.secret or fake.client_secret,
        "connections": [] if scenario.workspace else ids,
        "workspace_id": WORKSPACE,
        "poll_interval": POLL,
        "poll_timeout": scenario.timeout,
        "concurrency": scenario.concurrency,
    }
    proc = subprocess.run(
        [str(PARITY_PYTHON), str(SYNC), json.dumps(request)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return [f"failed: {proc.stderr.strip().splitlines()[-1][:200]}"] * len(ids)
    outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
    return [outcomes.get(i) or outcomes.get("*", "failed: never synced") for i in ids]


def run_side(side: str, scenario: Scenario) -> Result:
    options = {"auth": "client_credentials", "configuration_api": True, **scenario.fake_options}
    with FakeAirbyte(**options) as fake:
        ids = [
            fake.add_connection(
                f"conn-{i:03d}", scenario.script(), workspace_id=WORKSPACE, source=f"Source {i}"
            )
            for i in range(scenario.connections)
        ]
        scenario.prepare(fake, ids)
        existing = len(fake.jobs)
        started = time.monotonic()
        outcomes = (ours if side == SIDES[0] else dagster)(fake, ids, scenario)
        seconds = time.monotonic() - started
        time.sleep(0.2)  # a cancel sent as the client gave up lands
        jobs = list(fake.jobs.values())
        note = scenario.note(fake)
        result = Result(
            outcome=summarize(outcomes) + (f"; {note}" if note else ""),
            jobs_created=len(jobs) - existing,
            requests=len(fake.requests),
            cancelled=sum(j.status == "cancelled" for j in jobs),
            left_running=sum(j.status not in TERMINAL for j in jobs),
            seconds=seconds,
        )
        fake.violations.clear()  # the Dagster side's drift from the spec is not ours to fail on
    return result


def run(scenarios: Sequence[Scenario] = ()) -> dict[str, dict[str, Result]]:
    """Every scenario (or those given) on each side."""
    with tempfile.TemporaryDirectory() as home, bench_api_for_this_process(Path(home), os.environ):
        return {s.name: {side: run_side(side, s) for side in SIDES} for s in scenarios or SCENARIOS}
