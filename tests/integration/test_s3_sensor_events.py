"""Event mode: S3 notifications to SQS on a moto server (real HTTP), read by the sensor."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import pytest

from orchestration.errors import UserError
from orchestration.sensors.notifications import EventQueue, setup_events
from orchestration.sensors.s3 import S3Sensor
from orchestration.sensors.store import PrefectCursorStore
from tests.conftest import run_elt
from tests.integration.conftest import Recorder, put

PREFIX = "inbound/"


@pytest.fixture
def queue_url(sqs, s3, bucket) -> str:
    url = sqs.create_queue(
        QueueName=f"landing-events-{uuid.uuid4().hex[:8]}",
        Attributes={"VisibilityTimeout": "1"},
    )["QueueUrl"]
    setup_events(s3, sqs, bucket, PREFIX, url)
    return url


def event_sensor(s3, sqs, bucket, queue_url, trigger, **options) -> S3Sensor:
    events = EventQueue(sqs, s3, queue_url, bucket, PREFIX)
    store = PrefectCursorStore(bucket, PREFIX)
    return S3Sensor(s3, bucket, PREFIX, store, trigger, events=events, **options)


def drain(sensor: S3Sensor, until, polls: int = 30) -> None:
    """Receive (each poll waits up to 1 s for a message) until `until()` holds."""
    sensor.event_wait = 1
    for _ in range(polls):
        sensor.poll_once()
        if until():
            return


def test_events_deliver_new_objects_without_listing(s3, sqs, bucket, queue_url):
    recorder = Recorder()
    sensor = event_sensor(s3, sqs, bucket, queue_url, recorder)
    sensor.poll_once()  # the first poll reconciles with one listing (nothing there yet)
    assert sensor.stats.list_requests == 1

    keys = ["inbound/2026/11/21/late.csv", "inbound/a b+é.csv", "inbound/c1.csv"]
    put(s3, bucket, *keys, "other/ignored.csv")
    drain(sensor, lambda: len(recorder.delivered) >= 3)
    s3.put_object(Bucket=bucket, Key="inbound/c1.csv", Body=b"overwritten")  # same second too
    drain(sensor, lambda: len(recorder.delivered) >= 4)

    assert sorted(recorder.delivered) == sorted([*keys, "inbound/c1.csv"])
    assert sensor.stats.list_requests == 1  # events only: no listing since the first poll
    assert (
        sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )  # every message was deleted


def test_a_failed_trigger_keeps_the_messages_and_redeliveries_start_nothing_twice(
    s3, sqs, bucket, queue_url
):
    recorder = Recorder(fail_times=1)
    sensor = event_sensor(s3, sqs, bucket, queue_url, recorder)
    sensor.poll_once()
    put(s3, bucket, "inbound/a.csv")
    with pytest.raises(RuntimeError, match="downstream unavailable"):
        drain(sensor, lambda: False, polls=5)
    # the batch stays pending; SQS shows the message again after its visibility timeout
    drain(sensor, lambda: recorder.batches and sensor.stats.receives >= 4, polls=10)
    assert recorder.batches == [["inbound/a.csv"]]
    assert recorder.keys[0] == recorder.keys[1]  # the retry was the same batch


def test_test_events_and_malformed_messages_are_dropped_with_one_warning(
    s3, sqs, bucket, queue_url, caplog
):
    caplog.set_level(logging.WARNING, logger="elt")
    sqs.send_message(QueueUrl=queue_url, MessageBody="<html>not an event</html>")
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=json.dumps({"Event": "s3:TestEvent", "Bucket": bucket})
    )
    recorder = Recorder()
    sensor = event_sensor(s3, sqs, bucket, queue_url, recorder)
    put(s3, bucket, "inbound/x.csv")
    drain(sensor, lambda: recorder.delivered == ["inbound/x.csv"] and sensor.stats.receives > 3)
    warnings = [r.getMessage() for r in caplog.records if "Ignoring SQS message" in r.getMessage()]
    assert len(warnings) == 1 and "<html>not an event</html>" in warnings[0]
    assert recorder.delivered == ["inbound/x.csv"]


@pytest.mark.slow  # waits for a full listing
def test_the_reconciliation_listing_catches_objects_whose_event_was_lost(
    s3, sqs, bucket, queue_url
):
    recorder = Recorder()
    sensor = event_sensor(s3, sqs, bucket, queue_url, recorder)
    sensor.poll_once()
    sqs.purge_queue(QueueUrl=queue_url)  # (moto sends a test event on setup)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    put(s3, bucket, "inbound/lost.csv")  # no event for this one
    drain(sensor, lambda: False, polls=2)
    assert recorder.delivered == []

    due = event_sensor(s3, sqs, bucket, queue_url, recorder, full_scan_every=timedelta(0))
    due.poll_once()
    assert recorder.delivered == ["inbound/lost.csv"]


def test_setup_events_is_idempotent_and_keeps_other_notifications(s3, sqs, bucket, tmp_path):
    other = sqs.create_queue(QueueName=f"other-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "theirs", "QueueArn": other_arn, "Events": ["s3:ObjectRemoved:*"]}
            ]
        },
    )
    name = f"landing-events-{uuid.uuid4().hex[:8]}"
    sqs.create_queue(QueueName=name)
    env = {"AWS_ENDPOINT_URL": s3.meta.endpoint_url}
    args = ["sensor", "setup-events", "--bucket", bucket, "--queue", name]

    first = run_elt(*args, cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["created", "created"]
    again = run_elt(*args, cwd=tmp_path, **env)
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["unchanged", "unchanged"]

    ids = sorted(
        q["Id"]
        for q in s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    )
    assert len(ids) == 2 and "theirs" in ids


def test_a_missing_queue_stops_at_once_with_the_fix(s3, sqs, bucket):
    missing = sqs.meta.endpoint_url + "/123456789012/no-such-queue"
    sensor = event_sensor(s3, sqs, bucket, missing, Recorder())
    with pytest.raises(UserError, match=r"SQS queue .*no-such-queue does not exist"):
        sensor.run(poll_interval=1, max_polls=3)
