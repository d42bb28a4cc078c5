"""`s3_sensor`: a long-running watcher of an S3 landing prefix (see orchestration/sensors/)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

from prefect import flow

from orchestration.blocks.mapping import aws_block
from orchestration.errors import ConfigError
from orchestration.sensors.s3 import PollStats, S3Sensor, stop_on_signals
from orchestration.sensors.store import PrefectCursorStore
from orchestration.sensors.triggers import deployment_trigger, print_batch
from orchestration.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def s3_client(settings: Settings | None = None) -> S3Client:
    """An S3 client from prefect-aws's AwsCredentials: explicit keys, region and endpoint when
    set (env, `.env` or the S3 block), boto3's own chain otherwise. Its standard retry mode
    retries throttling, 5xx and connection errors with backoff."""
    credentials = aws_block(settings or get_settings())
    credentials.aws_client_parameters.config = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "connect_timeout": 10,
    }
    return credentials.get_s3_client()


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
    block_name: str | None = None,
) -> PollStats:
    """Watch s3://bucket/prefix and hand new objects downstream in batches, oldest first.

    With a deployment (or S3_SENSOR_DEPLOYMENT), each batch starts it with the keys as the
    `s3_keys` parameter; without one, each batch is printed and published as an artifact.
    """
    settings = get_settings(
        block_name,
        s3_bucket=bucket,
        s3_prefix=prefix,
        s3_poll_interval_seconds=poll_interval,
        s3_sensor_deployment=deployment,
    )
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    target = settings.s3_sensor_deployment
    sensor = S3Sensor(
        s3_client(settings),
        settings.s3_bucket,
        settings.s3_prefix,
        PrefectCursorStore(settings.s3_bucket, settings.s3_prefix),
        deployment_trigger(target) if target else print_batch,
        batch_size=batch_size,
        start=start,
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
    return stats


if __name__ == "__main__":
    s3_sensor()
