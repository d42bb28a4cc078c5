"""`s3_sensor`: a long-running watcher of an S3 landing prefix (see orchestration/sensors/)."""

from __future__ import annotations

import threading
from typing import Literal

import boto3
from botocore.config import Config
from prefect import flow

from orchestration.errors import ConfigError
from orchestration.sensors.s3 import PollStats, S3Sensor, stop_on_signals
from orchestration.sensors.store import PrefectCursorStore
from orchestration.sensors.triggers import deployment_trigger, print_batch
from orchestration.settings import get_settings


def s3_client(endpoint_url: str | None = None):
    """boto3 reads credentials, region and AWS_ENDPOINT_URL from the environment itself; its
    standard retry mode retries throttling, 5xx and connection errors with backoff."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10)
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


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
) -> PollStats:
    """Watch s3://bucket/prefix and hand new objects downstream in batches, oldest first.

    With a deployment (or S3_SENSOR_DEPLOYMENT), each batch starts it with the keys as the
    `s3_keys` parameter; without one, each batch is printed and published as an artifact.
    """
    settings = get_settings(
        s3_bucket=bucket,
        s3_prefix=prefix,
        s3_poll_interval_seconds=poll_interval,
        s3_sensor_deployment=deployment,
    )
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    target = settings.s3_sensor_deployment
    sensor = S3Sensor(
        s3_client(),
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
