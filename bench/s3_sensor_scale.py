"""Benchmark: the S3 sensor's three modes on 100,000 objects + 10 new, and its memory over a
long run. Against moto (S3 and SQS over real HTTP on loopback).

Scale (100,000 date-partitioned objects, then 10 new ones, 3 of them in old partitions):
- default mode: one poll lists the whole prefix (requests, time);
- arrival-day mode: a poll lists recent partitions (target <= 3 list requests) and the
  reconciliation pass (a full listing) delivers the 3 written elsewhere;
- event mode: polls read SQS only (target 0 list requests, <= 1 receive per batch), and the
  median delay from `put_object` to the trigger over 1,000 objects;
- nothing missed in any mode.
Memory: 10,000 listing polls and 10,000 event batches in one process; RSS growth of each
(target < 5 MiB), with a 60 s window (what the cursor keeps grows with arrivals per window,
not with time).

    .venv/bin/python bench/s3_sensor_scale.py [--objects 100000] [--polls 10000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from moto.s3.models import s3_backends

from orchestration.sensors.cursor import Cursor, S3Object
from orchestration.sensors.notifications import EventQueue, setup_events
from orchestration.sensors.s3 import S3Sensor
from tests.fakes.s3 import free_port, moto_server

BUCKET, PREFIX = "bench-landing", "inbound/"
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}


class MemoryStore:
    """The cursor as the sensor saves it (JSON text), kept in memory: no Prefect server."""

    def __init__(self) -> None:
        self.text: str | None = None

    def load(self) -> Cursor | None:
        return Cursor.from_json(self.text) if self.text else None

    def save(self, cursor: Cursor) -> None:
        self.text = cursor.to_json()


class Recorder:
    def __init__(self) -> None:
        self.delivered: dict[str, float] = {}

    def __call__(self, batch: list[S3Object], key: str) -> str:
        now = time.perf_counter()
        for obj in batch:
            self.delivered.setdefault(obj.key, now)
        return "recorded"


class Count:
    """A trigger that keeps no per-key state, so memory growth is the sensor's own."""

    def __init__(self) -> None:
        self.objects = 0

    def __call__(self, batch: list[S3Object], key: str) -> str:
        self.objects += len(batch)
        return "counted"


class Requests:
    """Counts requests of one operation sent by a client."""

    def __init__(self, client, operation: str) -> None:
        self.count = 0
        client.meta.events.register(f"before-send.*.{operation}", self._seen)

    def _seen(self, **kwargs: object) -> None:
        self.count += 1


def populate(count: int, days: int, bucket: str = BUCKET, prefix: str = PREFIX) -> None:
    """Old objects straight into moto's store (fast); the sensor still reads them over HTTP."""
    backend = s3_backends["123456789012"]["global"]
    today = datetime.now(UTC).date()
    for i in range(count):
        day = today - timedelta(days=1 + i % days)
        backend.put_object(bucket, f"{prefix}{day:%Y/%m/%d}/part-{i:07d}.json", b"{}")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def scale(objects: int) -> list[str]:
    lines, ok = [], True
    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, **KEYS)
        sqs = boto3.client("sqs", endpoint_url=endpoint, **KEYS)
        s3.create_bucket(Bucket=BUCKET)
        queue = sqs.create_queue(QueueName="bench-events")["QueueUrl"]
        populate(objects, days=100)
        time.sleep(1.1)  # LastModified has one-second resolution
        started = datetime.now(UTC)
        lists = Requests(s3, "ListObjectsV2")
        receives = Requests(sqs, "ReceiveMessage")

        def new_sensor(recorder: Recorder, **options: object) -> S3Sensor:
            sensor = S3Sensor(s3, BUCKET, PREFIX, MemoryStore(), recorder, **options)
            sensor.cursor.start_now(started)  # steady state: all of it was delivered
            return sensor

        default, arrival = Recorder(), Recorder()
        default_sensor = new_sensor(default)
        arrival_sensor = new_sensor(arrival, layout="arrival-day")
        for sensor in (default_sensor, arrival_sensor):
            sensor.cursor.last_full_scan = datetime.now(UTC)  # steady state: scan done
        events = EventQueue(sqs, s3, queue, BUCKET, PREFIX)
        event_recorder = Recorder()
        event_sensor = new_sensor(event_recorder, events=events)
        event_sensor.cursor.last_full_scan = datetime.now(UTC)
        event_sensor.event_wait = 1
        setup_events(s3, sqs, BUCKET, PREFIX, queue)
        sqs.purge_queue(QueueUrl=queue)  # the setup's test event

        today = datetime.now(UTC)
        new = [f"{PREFIX}{today:%Y/%m/%d}/new-{i:02d}.json" for i in range(7)]
        new += [f"{PREFIX}{today - timedelta(days=40):%Y/%m/%d}/late-{i}.json" for i in range(3)]
        for key in new:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")

        before = lists.count
        default_s = timed(default_sensor.poll_once)
        default_requests = lists.count - before
        before = lists.count
        arrival_s = timed(arrival_sensor.poll_once)
        arrival_requests = lists.count - before
        arrival_sensor.lister.full_scan_every = timedelta(0)
        before = lists.count
        reconcile_s = timed(arrival_sensor.poll_once)
        reconcile_requests = lists.count - before
        before, before_receives = lists.count, receives.count
        event_s = timed(lambda: event_sensor.poll_once())
        event_requests, event_receives = lists.count - before, receives.count - before_receives
        event_batches = event_sensor.stats.batches

        lines.append(f"prefix: {objects} objects in 100 day partitions; then 10 new, 3 of them")
        lines.append("in a partition 40 days old")
        lines.append(
            f"default      : {len(default.delivered)}/10 delivered, {default_requests} list "
            f"requests, {default_s * 1000:.0f} ms per poll"
        )
        lines.append(
            f"arrival-day  : {arrival_requests} list requests, {arrival_s * 1000:.0f} ms per poll "
            f"(target <= 3); reconciliation: {reconcile_requests} list requests, "
            f"{reconcile_s * 1000:.0f} ms; {len(arrival.delivered)}/10 delivered"
        )
        lines.append(
            f"event mode   : {event_requests} list requests, {event_receives} receive(s) for "
            f"{event_batches} batch(es), {event_s * 1000:.0f} ms; "
            f"{len(event_recorder.delivered)}/10 delivered"
        )
        ok &= len(default.delivered) == len(arrival.delivered) == 10
        ok &= len(event_recorder.delivered) == 10 and arrival_requests <= 3
        ok &= event_requests == 0 and event_receives <= max(event_batches, 1)

        # delay from put_object to the trigger, 1,000 objects put at a steady pace
        stop = threading.Event()
        runner = threading.Thread(
            target=lambda: event_sensor.run(poll_interval=1, stop=stop), daemon=True
        )
        runner.start()
        put_at: dict[str, float] = {}
        for i in range(1000):
            key = f"{PREFIX}{today:%Y/%m/%d}/delay-{i:04d}.json"
            put_at[key] = time.perf_counter()
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
            time.sleep(0.005)
        deadline = time.monotonic() + 120
        while (
            not all(k in event_recorder.delivered for k in put_at) and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        stop.set()
        runner.join(timeout=30)
        missing = sum(1 for k in put_at if k not in event_recorder.delivered)
        arrived = event_recorder.delivered
        delays = [arrived[k] - t for k, t in put_at.items() if k in arrived]
        lines.append(
            f"event delay  : median {statistics.median(delays) * 1000:.0f} ms, p95 "
            f"{statistics.quantiles(delays, n=20)[-1] * 1000:.0f} ms from put_object to the "
            f"trigger over 1,000 objects; {missing} missed"
        )
        ok &= missing == 0
    lines.append("scale targets met" if ok else "scale targets NOT met")
    return lines


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def memory(polls: int) -> list[str]:
    """Moto runs in its own process here, so its store does not count against the sensor."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, **KEYS)
        sqs = boto3.client("sqs", endpoint_url=endpoint, **KEYS)
        deadline = time.monotonic() + 60
        while True:
            try:
                s3.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        s3.create_bucket(Bucket=BUCKET)
        for i in range(100):
            s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}base-{i:03d}.json", Body=b"{}")
        window = {"lookback": timedelta(seconds=60), "full_scan_every": timedelta(seconds=60)}

        listing = S3Sensor(s3, BUCKET, PREFIX, MemoryStore(), Count(), **window)
        listing.poll_once()
        start = rss_kib()
        for i in range(polls):
            if i % 10 == 0:
                s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}poll-{i:06d}.json", Body=b"{}")
            listing.poll_once()
        listing_growth = rss_kib() - start

        queue = sqs.create_queue(QueueName="bench-memory")["QueueUrl"]
        s3.create_bucket(Bucket="bench-events")
        setup_events(s3, sqs, "bench-events", PREFIX, queue)
        events = EventQueue(sqs, s3, queue, "bench-events", PREFIX)
        event = S3Sensor(
            s3, "bench-events", PREFIX, MemoryStore(), Count(), events=events, **window
        )
        event.event_wait = 1
        event.poll_once()
        start = rss_kib()
        for i in range(polls):
            s3.put_object(Bucket="bench-events", Key=f"{PREFIX}event-{i:06d}.json", Body=b"{}")
            event.poll_once()
        event_growth = rss_kib() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    ok = listing_growth < 5 * 1024 and event_growth < 5 * 1024
    return [
        f"memory       : {polls} listing polls: RSS +{listing_growth / 1024:.1f} MiB; "
        f"{event.stats.batches} event batches: RSS +{event_growth / 1024:.1f} MiB (target < 5)",
        "memory targets met" if ok else "memory targets NOT met",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=10_000)
    parser.add_argument("--skip-scale", action="store_true", help="only the memory part")
    args = parser.parse_args()
    lines = ([] if args.skip_scale else scale(args.objects)) + memory(args.polls)
    print("\n".join(lines))
    return 0 if all("NOT met" not in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
