"""Ctrl-C and `kill -TERM` end an `elt` run as Cancelled within seconds, whatever it is doing:
polling an Airbyte job, waiting out an API outage, retrying a host that refuses connections,
reading the embedded connector, waiting for a concurrency slot, building dbt models, sleeping
between sensor polls. Each case is a real `elt` process on the session's Prefect server; the
states and the runs' logs (no ERROR record: a cancel is not an error) are read back from it,
and the fake Airbyte server says which jobs were cancelled.

The other waits of the code are driven elsewhere: the sensor's wait for another sensor's lease
(test_s3_sensor_crash.py), `elt serve` idle and registering (test_deployments.py), a deployed
run cancelled from the CLI (test_automations.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.generate_dbt_project import generate
from tests.conftest import REPO, cli_env, wait_until
from tests.fakes.airbyte_server import FakeAirbyte, Script
from tests.fakes.s3 import free_port

pytestmark = pytest.mark.slow  # a table of signals sent to real elt processes

NEEDS_PREFECT_API = False  # the `elt` processes use the session's real server
EXIT_WITHIN_SECONDS = 10.0
SIGNALS = [signal.SIGINT, signal.SIGTERM]


class ElT:
    """An `elt` process whose output is read while it runs."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(f"elt ended before {what}:\n{self.output}")
            assert time.monotonic() < deadline, f"never {what}:\n{self.output}"
            time.sleep(0.2)

    def interrupt(self, signum: int) -> float:
        """Send the signal; seconds until the process ended."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"elt still running 60 s after {signal.Signals(signum).name}")
        return time.monotonic() - sent


@dataclass
class Case:
    """What one case starts, when it is in the state under test, and what else it checks."""

    args: list[str]
    env: dict[str, str]
    ready: Callable[[ElT], bool]
    what: str
    after: Callable[[ElT], None] = lambda elt: None
    cwd: Path = REPO
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def flow_run_ids(api: str) -> set[str]:
    return {run["id"] for run in httpx.post(f"{api}/flow_runs/filter", json={}).json()}


def runs_besides(api: str, before: set[str]) -> tuple[list[dict], list[dict]]:
    """The flow runs (and their task runs) that are not in `before`."""
    flows = httpx.post(f"{api}/flow_runs/filter", json={}).json()
    flows = [run for run in flows if run["id"] not in before]
    ids = [run["id"] for run in flows]
    tasks = httpx.post(
        f"{api}/task_runs/filter", json={"flow_runs": {"id": {"any_": ids}}, "limit": 200}
    ).json()
    return flows, tasks


@contextmanager
def case_for(state: str, env: dict[str, str], tmp_path: Path) -> Iterator[Case]:
    api = env["PREFECT_API_URL"]
    if state in ("polling", "outage", "waiting-for-a-slot"):
        with FakeAirbyte() as fake:
            fake.add_connection("conn-1", Script(duration=600))  # runs for ten minutes
            airbyte = {
                **env,
                "AIRBYTE_SERVER_URL": fake.url,
                "AIRBYTE_CONNECTION_ID": "conn-1",
                "AIRBYTE_POLL_INTERVAL_SECONDS": "1",
            }
            polled = lambda elt: bool(fake.calls("GET", r".*/jobs/\d+"))  # noqa: E731

            def job_cancelled(elt: ElT) -> None:
                (job,) = fake.jobs.values()
                assert job.status == "cancelled", elt.output
                assert f"Cancelled Airbyte job {job.job_id}" in elt.output

            if state == "polling":
                yield Case(["sync"], airbyte, polled, "polled the job", job_cancelled)
            elif state == "outage":

                def in_outage(elt: ElT) -> bool:
                    if polled(elt) and not fake.outage_until:
                        fake.outage(600)
                    return fake.dropped > 0

                def reported(elt: ElT) -> None:  # only what was verified: it may still run
                    (job,) = fake.jobs.values()
                    assert f"could not cancel Airbyte job {job.job_id}" in elt.output

                yield Case(["sync"], airbyte, in_outage, "waited in an outage", reported)
            else:
                name = "airbyte-api"
                httpx.delete(f"{api}/v2/concurrency_limits/{name}")  # another test's, if any
                limit = (
                    httpx.post(f"{api}/v2/concurrency_limits/", json={"name": name, "limit": 1})
                    .raise_for_status()
                    .json()
                )
                httpx.post(  # another run holds the only slot
                    f"{api}/v2/concurrency_limits/increment-with-lease",
                    json={"names": [name], "slots": 1, "mode": "concurrency"},
                ).raise_for_status()
                waiting = lambda elt: "waiting for a slot" in elt.output  # noqa: E731

                def no_job(elt: ElT) -> None:
                    assert not fake.jobs, "a job started without a slot"

                try:
                    yield Case(["sync"], airbyte, waiting, "waited for a slot", no_job)
                finally:
                    httpx.delete(f"{api}/v2/concurrency_limits/{limit['id']}")
    elif state == "connector":  # the embedded source-faker, reading millions of records
        from tests.conftest import base_env

        embedded = {**env, **base_env(tmp_path), "FAKER_COUNT": "5000000"}
        reading = lambda elt: "Syncing source-faker" in elt.output  # noqa: E731
        yield Case(["sync"], embedded, reading, "started reading the connector")
    elif state == "refused-at-start":
        refusing = {
            **env,
            "AIRBYTE_SERVER_URL": f"http://127.0.0.1:{free_port()}/api/public/v1",
            "AIRBYTE_CONNECTION_ID": "conn-1",
        }
        retrying = lambda elt: "retrying" in elt.output  # noqa: E731
        yield Case(["sync"], refusing, retrying, "retried the refusing host")
    elif state == "dbt-building":
        project = generate(tmp_path / "project", models=1)
        (project / "models" / "slow.sql").write_text(  # minutes of work for DuckDB
            "select sum(a.range * b.range) as n from range(300000) a cross join range(300000) b"
        )
        building = {**env, "BENCH_DUCKDB_PATH": str(tmp_path / "bench.duckdb")}
        started = lambda elt: "nodes done" in elt.output  # noqa: E731  # the fast model is done
        args = ["transform", "--project-dir", str(project), "--profiles-dir", str(project)]
        yield Case(args, building, started, "started the slow model")
    elif state == "sensor-sleeping":
        from tests.fakes.s3 import moto_server

        with moto_server() as endpoint:
            aws = {
                **env,
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            import boto3

            bucket = f"landing-{uuid.uuid4().hex[:8]}"
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="inbound/a.csv", Body=b"a")
            args = ["sensor", "--bucket", bucket, "--prefix", "inbound/", "--poll-interval", "60"]
            delivered = lambda elt: "Batch of 1 new object" in elt.output  # noqa: E731
            yield Case(args, aws, delivered, "delivered its batch and slept")
    else:
        raise AssertionError(state)


STATES = [
    "polling",
    "outage",
    "refused-at-start",
    "connector",
    "waiting-for-a-slot",
    "dbt-building",
    "sensor-sleeping",
]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("state", STATES)
def test_a_signal_cancels_the_run_within_seconds(state, signum, prefect_server, tmp_path):
    env = cli_env(PREFECT_API_URL=prefect_server["PREFECT_API_URL"])
    api = env["PREFECT_API_URL"]
    before = flow_run_ids(api)
    with case_for(state, env, tmp_path) as case:
        elt = ElT(case.args, case.env, case.cwd, tmp_path / "elt.log")
        elt.wait_for(lambda: case.ready(elt), case.what)
        took = elt.interrupt(signum)
        output = elt.output
        assert took <= EXIT_WITHIN_SECONDS, f"ended {took:.1f} s after the signal:\n{output}"
        assert elt.process.returncode == 128 + signum, output
        name = signal.Signals(signum).name
        assert f"error: interrupted ({name}): the run was cancelled" in output
        assert "Traceback" not in output, output
        assert [line for line in output.splitlines() if "| ERROR" in line] == [], output
        case.after(elt)

    flows, _ = runs_besides(api, before)
    assert flows, "no flow run was recorded"
    assert {run["state"]["type"] for run in flows} == {"CANCELLED"}, [
        (run["name"], run["state"]) for run in flows
    ]

    def unfinished() -> list[tuple[str, str]]:  # task run states reach the server as events
        return [
            (t["name"], t["state"]["type"])
            for t in runs_besides(api, before)[1]
            if t["state"]["type"] in ("RUNNING", "PENDING", "SCHEDULED")
        ]

    wait_until(lambda: not unfinished(), "every task run of the cancelled runs final", timeout=30)
    # a cancel is not an error: no ERROR record in the runs' logs either
    logs = httpx.post(
        f"{api}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [r["id"] for r in flows]}, "level": {"ge_": 40}}},
    ).json()
    assert [log["message"] for log in logs] == []
