"""The S3 sensor against a moto server on loopback (real HTTP) and the session's Prefect API."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
import uuid

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from orchestration.errors import UserError
from orchestration.flows.sensors.s3_sensor import s3_client
from orchestration.sensors.s3 import S3Sensor
from orchestration.sensors.store import PrefectCursorStore
from orchestration.sensors.triggers import deployment_trigger
from tests.conftest import REPO, cli_env, run_elt
from tests.fakes.s3 import Throttle, moto_server

PREFIX = "inbound/"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_client()


@pytest.fixture
def bucket(s3) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


class Recorder:
    """The downstream hook: records each batch (keys) and its idempotency key."""

    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.keys: list[str] = []
        self.fail_times = fail_times

    def __call__(self, batch, idempotency_key: str) -> str:
        self.keys.append(idempotency_key)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("downstream unavailable")
        self.batches.append([o.key for o in batch])
        return "recorded"

    @property
    def delivered(self) -> list[str]:
        return [k for batch in self.batches for k in batch]


def put(s3, bucket: str, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=f"data of {key}".encode())


def sensor(s3, bucket: str, trigger, **kwargs) -> S3Sensor:
    return S3Sensor(s3, bucket, PREFIX, PrefectCursorStore(bucket, PREFIX), trigger, **kwargs)


def test_new_files_are_delivered_once_and_not_again_after_a_restart(s3, bucket):
    put(s3, bucket, "inbound/a.csv", "inbound/b.csv", "other/ignored.csv")
    first = Recorder()
    sensor(s3, bucket, first).run(poll_interval=0.01, max_polls=2)
    assert sorted(first.delivered) == ["inbound/a.csv", "inbound/b.csv"]
    assert len(first.batches) == 1

    restarted = Recorder()
    sensor(s3, bucket, restarted).run(poll_interval=0.01, max_polls=1)
    assert restarted.delivered == []
    put(s3, bucket, "inbound/c.csv")
    sensor(s3, bucket, restarted).run(poll_interval=0.01, max_polls=1)
    assert restarted.delivered == ["inbound/c.csv"]


def test_keys_arriving_out_of_lexicographic_order_are_not_skipped(s3, bucket):
    recorder = Recorder()
    put(s3, bucket, "inbound/z.csv")
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    put(s3, bucket, "inbound/a.csv")  # sorts before the last key the cursor saw
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    assert recorder.batches == [["inbound/z.csv"], ["inbound/a.csv"]]


def test_many_objects_in_one_second_are_batched_without_loss_or_repeat(s3, bucket):
    keys = [f"inbound/part-{i:02d}.csv" for i in range(7)]
    put(s3, bucket, *keys)
    recorder = Recorder()
    sensor(s3, bucket, recorder, batch_size=3).run(poll_interval=0.01, max_polls=1)
    assert [len(b) for b in recorder.batches] == [3, 3, 1]
    assert sorted(recorder.delivered) == keys
    sensor(s3, bucket, recorder, batch_size=3).run(poll_interval=0.01, max_polls=1)
    assert sorted(recorder.delivered) == keys  # nothing re-delivered


def test_deleting_the_last_seen_object_replays_and_skips_nothing(s3, bucket):
    recorder = Recorder()
    put(s3, bucket, "inbound/a.csv", "inbound/b.csv")
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    s3.delete_object(Bucket=bucket, Key="inbound/b.csv")
    put(s3, bucket, "inbound/c.csv")
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    assert recorder.batches[1:] == [["inbound/c.csv"]]


def test_an_overwritten_object_is_delivered_again(s3, bucket):
    recorder = Recorder()
    put(s3, bucket, "inbound/daily.csv")
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    put(s3, bucket, "inbound/daily.csv")
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    assert recorder.batches == [["inbound/daily.csv"], ["inbound/daily.csv"]]


def test_a_failed_trigger_keeps_the_batch_and_retries_it_with_the_same_key(s3, bucket):
    put(s3, bucket, "inbound/a.csv")
    recorder = Recorder(fail_times=1)
    stats = sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=3)
    assert stats.errors == 1
    assert recorder.batches == [["inbound/a.csv"]]
    assert recorder.keys[0] == recorder.keys[1]  # the retry is the same batch


@flow(name="landing-consumer")
def landing_consumer(s3_keys: list[str]) -> int:
    return len(s3_keys)


def test_crash_between_trigger_and_cursor_write_starts_exactly_one_run(s3, bucket):
    name = f"landing-{uuid.uuid4().hex[:8]}"
    deployment_id = landing_consumer.to_deployment(name=name).apply()
    real_trigger = deployment_trigger(f"landing-consumer/{name}")

    def trigger_then_die(batch, key):
        real_trigger(batch, key)  # the flow run is created...
        raise KeyboardInterrupt  # ...and the process dies before the cursor is written

    put(s3, bucket, "inbound/a.csv", "inbound/b.csv")
    with pytest.raises(KeyboardInterrupt):
        sensor(s3, bucket, trigger_then_die).poll_once()

    restarted = sensor(s3, bucket, real_trigger)  # a new process: cursor from Prefect
    assert [o.key for o in restarted.cursor.pending] == ["inbound/a.csv", "inbound/b.csv"]
    restarted.run(poll_interval=0.01, max_polls=2)

    with get_client(sync_client=True) as client:
        runs = client.request(
            "POST",
            "/flow_runs/filter",
            json={"deployments": {"id": {"any_": [str(deployment_id)]}}, "limit": 50},
        ).json()
    assert len(runs) == 1
    assert sorted(runs[0]["parameters"]["s3_keys"]) == ["inbound/a.csv", "inbound/b.csv"]
    assert restarted.cursor.pending == []


def test_missing_bucket_stops_at_once_with_a_clear_message(s3):
    with pytest.raises(
        UserError, match="bucket no-such-bucket-xyz does not exist: check S3_BUCKET"
    ):
        S3Sensor(
            s3,
            "no-such-bucket-xyz",
            PREFIX,
            PrefectCursorStore("no-such-bucket-xyz", PREFIX),
            Recorder(),
        ).run(poll_interval=0.01, max_polls=5)


def test_throttling_is_retried_and_never_kills_the_loop(s3, bucket):
    put(s3, bucket, "inbound/a.csv")
    throttle = Throttle(times=7)  # more than one poll's botocore retries (5 attempts)
    throttle.attach(s3)
    recorder = Recorder()
    stats = sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=3)
    assert throttle.sent == 7
    assert stats.errors == 1  # one poll gave up; the loop went on
    assert recorder.delivered == ["inbound/a.csv"]


def test_date_partitioned_prefix_lists_only_recent_partitions(s3, bucket):
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC)
    old_days = [(today - timedelta(days=d)).strftime("%Y/%m/%d") for d in range(40, 45)]
    put(s3, bucket, *[f"inbound/{day}/file-{i}.csv" for day in old_days for i in range(3)])
    recorder = Recorder()
    first = sensor(s3, bucket, recorder)
    first.run(poll_interval=0.01, max_polls=1)  # from the beginning: one full listing
    assert len(recorder.delivered) == 15 and first.layout == "yyyy/mm/dd"

    put(s3, bucket, f"inbound/{today:%Y/%m/%d}/new.csv")
    second = sensor(s3, bucket, recorder)
    second.run(poll_interval=0.01, max_polls=1)
    assert recorder.batches[-1] == [f"inbound/{today:%Y/%m/%d}/new.csv"]
    assert second.stats.list_requests <= 2  # today's (and at most yesterday's) partition


def test_cli_prints_exactly_the_new_objects(s3, bucket, s3_endpoint, prefect_api, tmp_path):
    put(s3, bucket, "inbound/a.csv", "inbound/b.csv")
    env = {"PREFECT_API_URL": prefect_api, "AWS_ENDPOINT_URL": s3_endpoint}
    args = ["sensor", "--bucket", bucket, "--prefix", PREFIX, "--max-polls", "1"]

    def run() -> list[str]:
        proc = run_elt(*args, cwd=tmp_path, **env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.splitlines()

    assert run() == ["inbound/a.csv", "inbound/b.csv"]
    put(s3, bucket, "inbound/c.csv")
    assert run() == ["inbound/c.csv"]
    assert run() == []

    missing = run_elt(*args[:2], "no-such-bucket-cli", *args[3:], cwd=tmp_path, **env)
    assert missing.returncode == 1
    assert "error: S3 sensor stopped: bucket no-such-bucket-cli does not exist" in missing.stdout


def test_max_runtime_ends_the_run_and_heartbeats_are_logged(s3, bucket, caplog):
    caplog.set_level(logging.INFO, logger="elt")
    started = time.monotonic()
    stats = sensor(s3, bucket, Recorder(), heartbeat_every=2).run(
        poll_interval=0.05, max_runtime=0.5
    )
    assert 0.5 <= time.monotonic() - started < 10
    assert stats.polls >= 2
    assert any("heartbeat: " in r.getMessage() for r in caplog.records)


def test_sigterm_stops_the_cli_sensor_cleanly_after_the_batch(
    s3, bucket, s3_endpoint, prefect_api, tmp_path
):
    put(s3, bucket, "inbound/a.csv")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "sensor",
            "--bucket",
            bucket,
            "--poll-interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=cli_env(PREFECT_API_URL=prefect_api, AWS_ENDPOINT_URL=s3_endpoint),
    )
    assert proc.stdout.readline().strip() == "inbound/a.csv"  # the batch was delivered
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopping after the current batch" in err
    assert "1 new objects in 1 batches" in err


def test_a_cursor_too_big_for_a_variable_moves_to_a_block(s3, bucket):
    from prefect.variables import Variable

    keys = [f"inbound/{'x' * 60}-{i:03d}.csv" for i in range(80)]  # ~6 KB of keys in the window
    put(s3, bucket, *keys)
    recorder = Recorder()
    first = sensor(s3, bucket, recorder)
    first.run(poll_interval=0.01, max_polls=1)
    assert sorted(recorder.delivered) == keys
    assert str(Variable.get(first.store.name)).startswith("block:")

    restarted = sensor(s3, bucket, recorder)  # loads the cursor back from the block
    assert len(restarted.cursor.seen) == 80
    restarted.run(poll_interval=0.01, max_polls=1)
    assert len(recorder.delivered) == 80


def test_the_flow_takes_bucket_prefix_endpoint_and_keys_from_the_s3_block(
    s3, bucket, monkeypatch, tmp_path
):
    from orchestration.blocks.register import register_blocks, validated_settings
    from orchestration.flows.sensors.s3_sensor import s3_sensor

    put(s3, bucket, "inbound/a.csv", "other/ignored.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S3_BUCKET", bucket)
    monkeypatch.setenv("S3_PREFIX", PREFIX)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(REPO / "dbt_project"))
    register_blocks(validated_settings(), "s3-ci")
    for name in ("S3_BUCKET", "S3_PREFIX", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name)  # only the blocks know the bucket, the endpoint and the keys
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    stats = s3_sensor(block_name="s3-ci", max_polls=1)

    assert (stats.objects, stats.errors) == (1, 0)
