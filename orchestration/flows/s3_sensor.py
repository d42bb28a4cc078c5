"""`s3_sensor`: a long-running watcher of an S3 landing prefix (see orchestration/sensors/)."""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from typing import Literal

from prefect import flow

from orchestration.config import load_config
from orchestration.errors import ConfigError, StepFailed
from orchestration.flags import PARAMETER_ORIGINS, from_parameters
from orchestration.lineage import record as lineage
from orchestration.lineage.events import PrefectRun
from orchestration.runtime import interrupts
from orchestration.sensors.cursor import S3Object
from orchestration.sensors.lease import SensorLease
from orchestration.sensors.notifications import EventQueue
from orchestration.sensors.s3 import PollStats, S3Sensor, SensorOptions, stop_on_signals
from orchestration.sensors.store import PrefectCursorStore
from orchestration.sensors.triggers import deployment_trigger, print_batch


@flow(name="s3-sensor")
@interrupts.cancel_on_interrupt
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
    parameters = {
        "bucket": bucket,
        "prefix": prefix,
        "poll_interval": poll_interval,
        "deployment": deployment,
        "layout": layout,
        "full_scan_every": full_scan_every,
        "events_queue": events_queue,
    }
    config = load_config(block_name, from_parameters(parameters), PARAMETER_ORIGINS)
    if max_runtime is not None and not 0 < max_runtime < math.inf:  # nan: never compares
        raise ConfigError(
            f"max_runtime must be a number of seconds above 0, not {max_runtime}: pass, e.g., "
            "--max-runtime 3600"
        )
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1: pass --batch-size 1 or more")
    s3_config = config.s3
    target = s3_config.sensor_deployment

    def handed_over(batch: list[S3Object], flow_name: str, run_id: str) -> None:
        lineage.landing(config, str(bucket), [o.key for o in batch], PrefectRun(flow_name, run_id))

    def printed(batch: list[S3Object], idempotency_key: str) -> str:
        outcome = print_batch(batch, idempotency_key)
        lineage.landing(config, str(bucket), [o.key for o in batch], None)
        return outcome

    s3 = s3_config.client("s3")
    bucket, prefix = s3_config.bucket_name, s3_config.prefix
    store = PrefectCursorStore(bucket, prefix)
    queue = s3_config.events_queue_url
    lease_ttl = s3_config.sensor_lease_seconds
    events = EventQueue(s3_config.client("sqs"), s3, queue, bucket, prefix) if queue else None
    sensor = S3Sensor(
        s3,
        bucket,
        prefix,
        store,
        deployment_trigger(target, on_started=handed_over) if target else printed,
        events=events,
        lease=SensorLease(store.lease_name, lease_ttl),
        options=SensorOptions(
            batch_size=batch_size,
            start=start,
            layout=s3_config.key_layout,
            lookback_partitions=s3_config.lookback_partitions,
            full_scan_every=timedelta(seconds=s3_config.full_scan_every_seconds),
            lookback=timedelta(seconds=s3_config.sensor_lookback_seconds),
            lease_wait_seconds=lease_ttl + 5,  # long enough for a dead sensor's lease to expire
        ),
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stats = sensor.run(
            poll_interval=s3_config.poll_interval_seconds,
            max_polls=max_polls,
            max_runtime=max_runtime,
            stop=stop,
        )
    sensor.heartbeat()
    if interrupts.STOP.is_set():  # stopped by a signal, after its batch: the run is cancelled
        raise interrupts.Stopped(f"stopped: {interrupts.signal_name()} received")
    if max_polls is not None and stats.errors:
        raise StepFailed(
            f"{stats.errors} of {stats.polls} S3 sensor polls failed; last error: "
            f"{stats.last_error}"
        )
    return stats


if __name__ == "__main__":
    from orchestration.server.local_server import run_as_script

    run_as_script(s3_sensor)
