"""`make parity`, Airbyte: this project's sync and dagster-airbyte's `AirbyteWorkspace`
(`sync_and_poll`, its defaults) against the same fake Airbyte server, scenario by scenario:
final outcome, jobs created, API requests, jobs cancelled, jobs left running.

Each side gets a fresh fake server per scenario, scripted the same way. The fake also serves the
configuration API call dagster-airbyte makes (`POST /api/v1/connections/get`)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.airbyte.jobs import sync_many
from orchestration.config import AirbyteConnection
from tests.fakes.airbyte_server import TERMINAL, FakeAirbyte, Script

REPO = Path(__file__).resolve().parents[1]
PARITY_PYTHON = REPO / "parity" / ".venv" / "bin" / "python"
SYNC = REPO / "parity" / "dagster_airbyte_sync.py"
SIDES = ("elt airbyte_sync", "dagster-airbyte")
POLL = 0.5


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    script: Callable[[], Script]
    prepare: Callable[[FakeAirbyte, list[str]], None] = lambda fake, ids: None
    timeout: float = 120.0
    concurrency: int = 4


def when_polled(fake: FakeAirbyte, action: Callable[[], None]) -> None:
    """Run `action` once the first job has been polled: a fault that strikes mid-poll."""

    def wait() -> None:
        deadline = time.monotonic() + 60
        while not fake.calls("GET", r"/jobs/\d+") and time.monotonic() < deadline:
            time.sleep(0.02)
        action()

    threading.Thread(target=wait, daemon=True).start()


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


def ours(fake: FakeAirbyte, ids: list[str], scenario: Scenario) -> list[str]:
    block = AirbyteConnection(
        server_url=fake.url, client_id=fake.client_id, client_secret=fake.client_secret
    )
    with block.client() as client:
        results = sync_many(
            client,
            ids,
            poll_interval=POLL,
            timeout=scenario.timeout,
            max_concurrent=scenario.concurrency,
            cancel_timeout=10,
        )
    return ["succeeded" if r.succeeded else f"failed: {r.failure_line()}" for r in results]


def dagster(fake: FakeAirbyte, ids: list[str], scenario: Scenario) -> list[str]:
    request = {
        "rest": fake.url,
        "configuration": fake.configuration_url,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "connections": ids,
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
    return [outcomes[i] for i in ids]


def run_side(side: str, scenario: Scenario) -> Result:
    with FakeAirbyte(auth="client_credentials", configuration_api=True) as fake:
        ids = [
            fake.add_connection(f"conn-{i:02d}", scenario.script())
            for i in range(scenario.connections)
        ]
        scenario.prepare(fake, ids)
        existing = len(fake.jobs)
        started = time.monotonic()
        outcomes = (ours if side == SIDES[0] else dagster)(fake, ids, scenario)
        seconds = time.monotonic() - started
        time.sleep(0.2)  # a cancel sent as the client gave up lands
        jobs = list(fake.jobs.values())
        result = Result(
            outcome=summarize(outcomes),
            jobs_created=len(jobs) - existing,
            requests=len(fake.requests),
            cancelled=sum(j.status == "cancelled" for j in jobs),
            left_running=sum(j.status not in TERMINAL for j in jobs),
            seconds=seconds,
        )
        fake.violations.clear()  # the Dagster side's drift from the spec is not ours to fail on
    return result


def run() -> dict[str, dict[str, Result]]:
    return {s.name: {side: run_side(side, s) for side in SIDES} for s in SCENARIOS}
