"""The S3 sensor against a moto server on loopback (real HTTP) and the session's Prefect API."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from orchestration.errors import UserError
from orchestration.sensors.s3 import S3Sensor
from orchestration.sensors.store import PrefectCursorStore
from orchestration.sensors.triggers import deployment_trigger
from tests.conftest import REPO, cli_env, elt_process, run_elt
from tests.fakes.s3 import Throttle
from tests.integration.conftest import Recorder, put

PREFIX = "inbound/"


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


@pytest.mark.slow  # waits out throttling backoffs
def test_throttling_is_retried_and_never_kills_the_loop(s3, bucket):
    put(s3, bucket, "inbound/a.csv")
    throttle = Throttle(times=7)  # more than one poll's botocore retries (5 attempts)
    throttle.attach(s3)
    recorder = Recorder()
    stats = sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=3)
    assert throttle.sent == 7
    assert stats.errors == 1  # one poll gave up; the loop went on
    assert recorder.delivered == ["inbound/a.csv"]


def today_partition(days_ago: int = 0) -> str:
    return f"{datetime.now(UTC) - timedelta(days=days_ago):%Y/%m/%d}"


def test_late_files_same_second_files_and_overwrites_in_old_partitions_are_all_delivered(
    s3, bucket
):
    day = today_partition(3)
    put(s3, bucket, f"inbound/{day}/a.csv", f"inbound/{day}/b.csv")
    recorder = Recorder()
    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    assert sorted(recorder.delivered) == [f"inbound/{day}/a.csv", f"inbound/{day}/b.csv"]

    older = today_partition(4)
    late = [f"inbound/{older}/late.csv"] + [f"inbound/{day}/c{i}.csv" for i in (1, 2, 3)]
    put(s3, bucket, *late)
    s3.put_object(Bucket=bucket, Key=f"inbound/{day}/a.csv", Body=b"corrected")
    restarted = sensor(s3, bucket, recorder)
    restarted.run(poll_interval=0.01, max_polls=1)
    assert sorted(recorder.batches[-1]) == sorted([*late, f"inbound/{day}/a.csv"])
    assert restarted.stats.list_requests == 1  # the whole prefix, one page

    sensor(s3, bucket, recorder).run(poll_interval=0.01, max_polls=1)
    assert len(recorder.batches) == 2  # nothing delivered twice


def test_a_same_second_overwrite_is_delivered(s3, bucket):
    recorder = Recorder()
    watcher = sensor(s3, bucket, recorder)
    s3.put_object(Bucket=bucket, Key="inbound/x.csv", Body=b"v1")
    watcher.poll_once()
    s3.put_object(Bucket=bucket, Key="inbound/x.csv", Body=b"v2")
    watcher.poll_once()
    assert recorder.batches == [["inbound/x.csv"], ["inbound/x.csv"]]


def test_arrival_day_lists_recent_partitions_and_a_full_scan_catches_the_rest(s3, bucket):
    old_days = [today_partition(d) for d in range(40, 45)]
    put(s3, bucket, *[f"inbound/{day}/file-{i}.csv" for day in old_days for i in range(3)])
    recorder = Recorder()
    options = {"layout": "arrival-day", "full_scan_every": timedelta(hours=1)}
    first = sensor(s3, bucket, recorder, **options)
    first.run(poll_interval=0.01, max_polls=1)  # no full scan yet: one full listing
    assert len(recorder.delivered) == 15

    backfill = f"inbound/{old_days[0]}/backfill.csv"
    put(s3, bucket, f"inbound/{today_partition()}/new.csv", backfill)
    second = sensor(s3, bucket, recorder, **options)
    second.run(poll_interval=0.01, max_polls=1)
    assert recorder.batches[-1] == [f"inbound/{today_partition()}/new.csv"]
    assert 1 <= second.stats.list_requests <= 3  # today, yesterday (and the horizon's day)

    due = sensor(s3, bucket, recorder, layout="arrival-day", full_scan_every=timedelta(0))
    due.run(poll_interval=0.01, max_polls=1)  # the reconciliation pass
    assert recorder.batches[-1] == [backfill]
    assert len(recorder.delivered) == 17


def test_arrival_day_on_a_prefix_that_is_not_day_partitioned_names_the_fix(s3, bucket):
    put(s3, bucket, "inbound/2026/11/25/a.csv", "inbound/exports/b.csv")
    recorder = Recorder()
    with pytest.raises(UserError, match="'exports/', which is not a day partition"):
        sensor(s3, bucket, recorder, layout="arrival-day").run(poll_interval=0.01, max_polls=1)
    assert recorder.delivered == []


def test_an_invalid_bucket_name_stops_at_once(s3):
    with pytest.raises(UserError, match=r"Invalid bucket name .*check S3_BUCKET"):
        sensor(s3, "Not A Bucket!", Recorder()).run(poll_interval=0.01, max_polls=5)


def test_cli_prints_exactly_the_new_objects(s3, bucket, s3_endpoint, cli, tmp_path):
    put(s3, bucket, "inbound/a.csv", "inbound/b.csv")
    env = {"AWS_ENDPOINT_URL": s3_endpoint}
    args = ["sensor", "--bucket", bucket, "--prefix", PREFIX, "--max-polls", "1"]

    def run() -> list[str]:
        proc = cli(*args, cwd=tmp_path, **env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.splitlines()

    assert run() == ["inbound/a.csv", "inbound/b.csv"]
    put(s3, bucket, "inbound/c.csv")
    assert run() == ["inbound/c.csv"]
    assert run() == []

    missing = cli(*args[:2], "no-such-bucket-cli", *args[3:], cwd=tmp_path, **env)
    assert missing.returncode == 1
    assert missing.stdout == ""  # the key stream stays clean
    assert "Traceback" not in missing.stderr
    assert [line for line in missing.stderr.splitlines() if line.startswith("error")] == [
        "error: S3 sensor stopped: bucket no-such-bucket-cli does not exist: check S3_BUCKET "
        "(or --bucket)"
    ]

    no_poll = cli(*args[:-1], "0", cwd=tmp_path, **env)
    assert (no_poll.returncode, no_poll.stdout) == (0, "")
    assert "s3 sensor: 0 polls" in no_poll.stderr


def test_a_deployment_that_does_not_exist_is_named_once(s3, bucket, s3_endpoint, cli, tmp_path):
    put(s3, bucket, "inbound/a.csv")
    args = ["sensor", "--bucket", bucket, "--prefix", PREFIX, "--max-polls", "1"]
    ran = cli(*args, "--deployment", "no-such/flow", cwd=tmp_path, AWS_ENDPOINT_URL=s3_endpoint)
    assert ran.returncode == 1 and ran.stdout == ""
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: no deployment 'no-such/flow' on the Prefect server to hand the new objects to: "
        "deploy it (`prefect deploy --all`), or fix --deployment / S3_SENSOR_DEPLOYMENT "
        "(FLOW_NAME/DEPLOYMENT_NAME)"
    ], ran.stderr


@pytest.mark.slow  # waits out a poll's retries
def test_cli_exits_non_zero_when_a_poll_failed(bucket, prefect_api, tmp_path):
    from tests.fakes.s3 import free_port

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = run_elt(
        "sensor", "--bucket", bucket, "--max-polls", "1", "--poll-interval", "0.1",
        cwd=tmp_path, PREFECT_API_URL=prefect_api, AWS_ENDPOINT_URL=down,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "error: 1 of 1 S3 sensor polls failed; last error: Could not connect" in proc.stderr


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
    assert proc.returncode == 143, err  # the run is cancelled, after its batch
    assert "stopping after the current batch" in err
    assert " polls, 1 objects delivered" in err
    assert "error: interrupted (SIGTERM): the run was cancelled" in err


def test_a_cursor_of_any_size_saves_and_loads_at_the_variable_limit(prefect_api):
    from prefect.variables import Variable

    from orchestration.sensors.cursor import Cursor, S3Object
    from orchestration.sensors.store import fits_in_variable

    now = datetime.now(UTC).replace(microsecond=0)
    # quotes and non-ASCII text grow when Prefect JSON-encodes the value: the old check missed it
    pending = [S3Object(now, 'inbound/"quoted" é.csv', 1, "etag")]

    def cursor_of(n: int) -> Cursor:
        objects = [S3Object(now, f"inbound/{i}.csv", 1, "e") for i in range(n)]
        cursor = Cursor()
        cursor.commit(objects)
        cursor.pending = pending
        return cursor

    n = next(n for n in range(400) if not fits_in_variable(cursor_of(n).to_json()))
    store = PrefectCursorStore(f"boundary-{uuid.uuid4().hex[:8]}", PREFIX)
    for size in (n - 1, n, n + 1, n - 1):  # and back below the limit
        cursor = cursor_of(size)
        store.save(cursor)
        assert store.load() == cursor
        in_block = str(Variable.get(store.name)).startswith("block:")
        assert in_block == (size >= n)


def test_the_flow_takes_bucket_prefix_endpoint_and_keys_from_the_s3_block(
    s3, bucket, monkeypatch, tmp_path
):
    from orchestration.blocks.register import register_blocks, validated_blocks
    from orchestration.flows.s3_sensor import s3_sensor

    put(s3, bucket, "inbound/a.csv", "other/ignored.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S3_BUCKET", bucket)
    monkeypatch.setenv("S3_PREFIX", PREFIX)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(REPO / "dbt_project"))
    register_blocks(validated_blocks(), "s3-ci")
    for name in ("S3_BUCKET", "S3_PREFIX", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name)  # only the blocks know the bucket, the endpoint and the keys
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    stats = s3_sensor(block_name="s3-ci", max_polls=1)

    assert (stats.objects, stats.errors) == (1, 0)


def test_a_sensor_without_credentials_fails_at_once_naming_them(
    bucket, prefect_api, tmp_path, monkeypatch
):
    """No AWS credentials anywhere is a configuration error, not an outage: the sensor (with
    no --max-polls, so it would retry for ever) fails with one line, no retry."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    missing = str(tmp_path / "no-such-file")
    proc = elt_process(
        "sensor", "--bucket", bucket, "--poll-interval", "0.1",
        env=cli_env(
            PREFECT_API_URL=prefect_api,
            AWS_EC2_METADATA_DISABLED="true",  # no instance metadata lookup off this machine
            AWS_SHARED_CREDENTIALS_FILE=missing,
            AWS_CONFIG_FILE=missing,
        ),
        cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "retrying" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: S3 sensor stopped: no AWS credentials found: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a role) where the sensor runs"
    ], proc.stderr
