"""`elt sensor` as a user runs it, killed with SIGKILL mid-delivery and started twice: every
object ends up in exactly one flow run of the target deployment (checked on the Prefect API)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.variables import Variable

from orchestration.sensors.notifications import setup_events
from orchestration.sensors.store import cursor_name
from tests.conftest import cli_env, wait_until

pytestmark = pytest.mark.slow  # kills and restarts sensors mid-delivery

PREFIX = "inbound/"
LEASE_SECONDS = "3"


@flow(name="landing-consumer")
def landing_consumer(s3_keys: list[str]) -> int:
    return len(s3_keys)


@pytest.fixture
def deployment() -> tuple[str, str]:
    """(deployment id, flow/name) of a deployment the sensor triggers (nobody runs it)."""
    name = f"landing-{uuid.uuid4().hex[:8]}"
    deployment_id = landing_consumer.to_deployment(name=name).apply()
    return str(deployment_id), f"landing-consumer/{name}"


def delivered_keys(deployment_id: str) -> list[str]:
    """Every key handed to a flow run of the deployment, once per run that got it."""
    keys: list[str] = []
    offset = 0
    with get_client(sync_client=True) as client:
        while True:
            runs = client.request(
                "POST",
                "/flow_runs/filter",
                json={
                    "deployments": {"id": {"any_": [deployment_id]}},
                    "limit": 200,
                    "offset": offset,
                },
            ).json()
            keys += [key for run in runs for key in run["parameters"]["s3_keys"]]
            if len(runs) < 200:
                return keys
            offset += 200


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    wait_until(condition, what, timeout=timeout, interval=0.1)


def queue_is_empty(sqs, queue: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
    return all(int(counts[name]) == 0 for name in names)


class Sensor:
    """An `elt sensor` process; its output goes to files (a full pipe would stall it)."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.log = cwd / f"sensor-{uuid.uuid4().hex[:6]}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", "sensor", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=cli_env(**env),
            )
        self.pid = self.proc.pid

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        """Wait for the process to end: (exit code, everything it printed)."""
        code = self.proc.wait(timeout=timeout)
        return code, self.log.read_text()


def put_many(s3, bucket: str, keys: list[str]) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def assert_exactly_once(deployment_id: str, keys: list[str]) -> None:
    counts = Counter(delivered_keys(deployment_id))
    assert sorted(counts) == sorted(keys), "missing: " + str(sorted(set(keys) - set(counts)))
    assert [k for k, n in counts.items() if n > 1] == []


def test_sigkill_mid_delivery_then_restart_delivers_every_object_exactly_once(
    s3, bucket, s3_endpoint, prefect_api, deployment, tmp_path
):
    deployment_id, target = deployment
    keys = [f"inbound/2026/11/{day:02d}/part-{i:03d}.csv" for day in (21, 22) for i in range(75)]
    put_many(s3, bucket, keys)
    env = {
        "PREFECT_API_URL": prefect_api,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "S3_SENSOR_LEASE_SECONDS": LEASE_SECONDS,
    }
    args = ["--bucket", bucket, "--deployment", target, "--batch-size", "3"]

    first = Sensor(tmp_path, env, *args, "--poll-interval", "0.2")
    wait_for(lambda: len(delivered_keys(deployment_id)) >= 15, "the first batches")
    first.proc.kill()  # SIGKILL: no cleanup, the lease and maybe a pending batch stay behind
    first.finish(timeout=30)
    at_kill = len(delivered_keys(deployment_id))
    assert at_kill < len(keys), "the sensor finished before it was killed: use more objects"

    code, err = Sensor(tmp_path, env, *args, "--max-polls", "1").finish()
    assert code == 0, err
    assert "Took over s3://" in err  # the dead sensor's lease expired and was taken over
    assert_exactly_once(deployment_id, keys)


def test_sigkill_in_event_mode_then_restart_delivers_every_object_exactly_once(
    s3, sqs, bucket, s3_endpoint, prefect_api, deployment, tmp_path
):
    deployment_id, target = deployment
    queue = sqs.create_queue(
        QueueName=f"events-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "2"}
    )["QueueUrl"]
    setup_events(s3, sqs, bucket, PREFIX, queue)
    env = {
        "PREFECT_API_URL": prefect_api,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "S3_SENSOR_LEASE_SECONDS": LEASE_SECONDS,
    }
    args = ["--bucket", bucket, "--deployment", target, "--batch-size", "2"]
    args += ["--events-queue", queue, "--poll-interval", "1", "--start", "now"]
    cursor = cursor_name(bucket, PREFIX)

    first = Sensor(tmp_path, env, *args)
    wait_for(lambda: Variable.get(cursor) is not None, "the sensor's first reconciliation")
    keys = [f"inbound/event-{i:03d}.csv" for i in range(80)]
    put_many(s3, bucket, keys)
    wait_for(lambda: len(delivered_keys(deployment_id)) >= 10, "the first batches")
    first.proc.kill()
    first.finish(timeout=30)
    assert len(delivered_keys(deployment_id)) < len(keys), "finished before the kill"

    restarted = Sensor(tmp_path, env, *args)
    try:
        wait_for(lambda: len(set(delivered_keys(deployment_id))) == len(keys), "every key")
        # no redelivery can come once no message is left, in flight or visible
        wait_for(lambda: queue_is_empty(sqs, queue), "every event message deleted")
    finally:
        restarted.proc.terminate()
    code, err = restarted.finish(timeout=60)
    assert code == 143, err  # SIGTERM: the run ends Cancelled, after its batch
    assert " 0 list requests" in err  # the restart read events only (no reconciliation due)
    assert_exactly_once(deployment_id, keys)


def test_a_second_sensor_on_the_same_prefix_refuses_and_nothing_is_delivered_twice(
    s3, bucket, s3_endpoint, prefect_api, deployment, tmp_path
):
    deployment_id, target = deployment
    env = {
        "PREFECT_API_URL": prefect_api,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "S3_SENSOR_LEASE_SECONDS": LEASE_SECONDS,
    }
    args = ["--bucket", bucket, "--deployment", target, "--batch-size", "2"]
    args += ["--poll-interval", "0.1"]
    lease = cursor_name(bucket, PREFIX) + "_lease"

    first = Sensor(tmp_path, env, *args)
    wait_for(lambda: Variable.get(lease) is not None, "the first sensor's lease")
    second = Sensor(tmp_path, env, *args)
    keys = []
    for i in range(30):  # objects trickle in while both run
        keys.append(f"inbound/trickle-{i:03d}.csv")
        put_many(s3, bucket, keys[-1:])
        time.sleep(0.1)
    second_code, second_err = second.finish(timeout=120)
    wait_for(lambda: len(delivered_keys(deployment_id)) >= len(keys), "every key")
    first.proc.terminate()
    first.finish(timeout=60)

    assert second_code == 1
    errors = [line for line in second_err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, second_err
    assert errors[0].startswith(f"error: another S3 sensor is watching s3://{bucket}/inbound/: ")
    assert f"pid {first.pid} on " in errors[0]
    assert "Traceback" not in second_err
    assert_exactly_once(deployment_id, keys)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_sensor_waiting_for_the_lease_cancelled_at_once(
    s3, bucket, s3_endpoint, prefect_api, tmp_path, signum, code
):
    """A second sensor waits up to the lease's time-to-live (here 120 s) for the first one's
    lease; Ctrl-C or SIGTERM during that wait ends it Cancelled, long before the wait would."""
    env = {
        "PREFECT_API_URL": prefect_api,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "S3_SENSOR_LEASE_SECONDS": "120",
    }
    args = ["--bucket", bucket, "--poll-interval", "0.2"]
    lease = cursor_name(bucket, PREFIX) + "_lease"
    first = Sensor(tmp_path, env, *args)
    second = None
    try:
        wait_for(lambda: Variable.get(lease) is not None, "the first sensor's lease")
        second = Sensor(tmp_path, env, *args)
        wait_for(lambda: "Waiting for s3://" in second.log.read_text(), "the second one waiting")
        sent = time.monotonic()
        second.proc.send_signal(signum)
        second_code, second_err = second.finish(timeout=60)
        took = time.monotonic() - sent
    finally:
        for sensor in (first, second):
            if sensor is not None and sensor.proc.poll() is None:
                sensor.proc.kill()
                sensor.finish(timeout=60)
    assert second_code == code, second_err
    assert took < 30, f"ended {took:.0f}s after the signal (the lease wait is 125 s)"
    errors = [line for line in second_err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: interrupted ({signal.Signals(signum).name}): the run was cancelled"]
    assert "Traceback" not in second_err and "| ERROR" not in second_err, second_err
    with get_client(sync_client=True) as client:
        states = [r.state_type.value for r in client.read_flow_runs() if r.name and r.state_type]
    assert "CANCELLED" in states
