"""`s3_sensor`: a long-running watcher of an S3 landing prefix (see orchestration/sensors/)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from prefect import flow

from orchestration.blocks.mapping import aws_block
from orchestration.errors import ConfigError, StepFailed
from orchestration.sensors.events import EventQueue
from orchestration.sensors.lease import SensorLease
from orchestration.sensors.s3 import PollStats, S3Sensor, SensorOptions, stop_on_signals
from orchestration.sensors.store import PrefectCursorStore
from orchestration.sensors.triggers import deployment_trigger, print_batch
from orchestration.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def s3_client(settings: Settings | None = None) -> S3Client:
    """An S3 client from prefect-aws's AwsCredentials: explicit keys, region and endpoint when
    set (env, `.env` or the S3 block), boto3's own chain otherwise. Its standard retry mode
    retries throttling, 5xx and connection errors with backoff."""
    return aws_client(settings or get_settings(), "s3")


def aws_client(settings: Settings, service: str) -> Any:
    credentials = aws_block(settings)
    credentials.aws_client_parameters.config = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "connect_timeout": 10,
        # longer than an SQS long poll (20 s), so a receive is never cut short
        "read_timeout": 60,
    }
    return credentials.get_client(service)


@flow(name="s3-sensor")
def s3_sensor(
    bucket: str | None = None,
    prefix: str | None = None,
    poll_interval: float | None = None,
    max_polls: int | None = None,
    max_runtime: float | None = None,
    start: Literal["beginning", "now"] = "beginning",
    deployment: str | None = None,
    batch_size: int = 100,
    layout: Literal["any", "arrival-day"] | None = None,
    full_scan_every: float | None = None,
    events_queue: str | None = None,
    block_name: str | None = None,
) -> PollStats:
    """Watch s3://bucket/prefix and hand new objects downstream in batches, oldest first.

    Listing mode (default) lists the whole prefix every poll; `layout="arrival-day"` lists
    only recent day partitions between full listings every `full_scan_every` seconds; with an
    SQS `events_queue` of S3 notifications, polls read the queue instead. With a deployment
    (or S3_SENSOR_DEPLOYMENT), each batch starts it with the keys as the `s3_keys`
    parameter; without one, each batch is printed and published as an artifact. One sensor
    runs per bucket/prefix: a second one waits for the first one's lease, then refuses.
    With `max_polls`, a poll that failed fails the run.
    """
    settings = get_settings(
        block_name,
        s3_bucket=bucket,
        s3_prefix=prefix,
        s3_poll_interval_seconds=poll_interval,
        s3_sensor_deployment=deployment,
        s3_key_layout=layout,
        s3_full_scan_every_seconds=full_scan_every,
        s3_events_queue_url=events_queue,
    )
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1: pass --batch-size 1 or more")
    target = settings.s3_sensor_deployment
    s3 = s3_client(settings)
    bucket, prefix = settings.s3_bucket, settings.s3_prefix
    store = PrefectCursorStore(bucket, prefix)
    queue = settings.s3_events_queue_url
    lease_ttl = settings.s3_sensor_lease_seconds
    events = EventQueue(aws_client(settings, "sqs"), s3, queue, bucket, prefix) if queue else None
    sensor = S3Sensor(
        s3,
        bucket,
        prefix,
        store,
        deployment_trigger(target) if target else print_batch,
        events=events,
        lease=SensorLease(store.lease_name, lease_ttl),
        options=SensorOptions(
            batch_size=batch_size,
            start=start,
            layout=settings.s3_key_layout,
            lookback_partitions=settings.s3_lookback_partitions,
            full_scan_every=timedelta(seconds=settings.s3_full_scan_every_seconds),
            lookback=timedelta(seconds=settings.s3_sensor_lookback_seconds),
            lease_wait_seconds=lease_ttl + 5,  # long enough for a dead sensor's lease to expire
        ),
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stats = sensor.run(
            poll_interval=settings.s3_poll_interval_seconds,
            max_polls=max_polls,
            max_runtime=max_runtime,
            stop=stop,
        )
    sensor.heartbeat()
    if max_polls is not None and stats.errors:
        raise StepFailed(
            f"{stats.errors} of {stats.polls} S3 sensor polls failed; last error: "
            f"{stats.last_error}"
        )
    return stats


if __name__ == "__main__":
    s3_sensor()
