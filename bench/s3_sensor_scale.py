"""Benchmark: the S3 sensor on a prefix of 100,000 date-partitioned objects plus 10 new ones.

Against a moto server on loopback (real HTTP). For one poll that finds the 10 new objects it
reports list requests, wall time and peak memory for:
- our sensor (a day-partition fast path from a persisted cursor), and
- a full listing of the prefix filtered by a key cursor (the Dagster `get_objects` algorithm).
Targets: at most 3 list requests per poll, at least 20x faster than the full listing, memory
flat as the prefix grows (measured at 10% and at 100% of the objects).

    .venv/bin/python bench/s3_sensor_scale.py [--objects 100000] [--days 100]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from moto.s3.models import s3_backends

from orchestration.sensors.cursor import Cursor
from orchestration.sensors.listing import find_new
from tests.fakes.s3 import moto_server

BUCKET, PREFIX = "bench-landing", "inbound/"


class Counter:
    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, **kwargs: object) -> None:
        self.requests += 1


def populate(count: int, days: int, start: int = 0) -> None:
    """Old objects straight into moto's store (fast); the sensor still reads them over HTTP."""
    backend = s3_backends["123456789012"]["global"]
    today = datetime.now(UTC).date()
    for i in range(start, start + count):
        day = today - timedelta(days=1 + i % days)
        backend.put_object(BUCKET, f"{PREFIX}{day:%Y/%m/%d}/part-{i:07d}.json", b"{}")


def our_poll(s3, cursor: Cursor) -> tuple[int, int, float, int]:
    counter = Counter()
    s3.meta.events.register("before-send.s3.ListObjectsV2", counter)
    tracemalloc.start()
    started = time.perf_counter()
    listing = find_new(s3, BUCKET, PREFIX, cursor, layout="yyyy/mm/dd", batch_size=100)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    s3.meta.events.unregister("before-send.s3.ListObjectsV2", counter)
    return len(listing.batch), counter.requests, elapsed, peak


def full_listing_poll(s3, last_key: str) -> tuple[int, int, float]:
    """Dagster's algorithm: list the whole prefix, keep keys after the cursor key."""
    requests, new = 0, 0
    started = time.perf_counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
        requests += 1
        new += sum(1 for o in page.get("Contents", []) if o["Key"] > last_key)
    return new, requests, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=100)
    args = parser.parse_args()

    with moto_server() as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=BUCKET)
        tenth = args.objects // 10
        populate(tenth, args.days)
        cursor = Cursor()
        cursor.start_now()  # steady state: everything so far was delivered
        time.sleep(1.1)
        today = datetime.now(UTC)
        new_keys = [f"{PREFIX}{today:%Y/%m/%d}/new-{i:02d}.json" for i in range(10)]
        for key in new_keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
        found_small, _, _, peak_small = our_poll(s3, cursor)

        populate(args.objects - tenth, args.days, start=tenth)
        found, requests, elapsed, peak = our_poll(s3, cursor)
        last_key = f"{PREFIX}{today:%Y/%m/%d}/"  # a key cursor just before today's files
        full_new, full_requests, full_elapsed = full_listing_poll(s3, last_key)

    print(f"prefix: {args.objects} objects in {args.days} day partitions + 10 new today")
    print(f"ours:         {found} new, {requests} list requests, {elapsed * 1000:.0f} ms per poll")
    print(
        f"full listing: {full_new} new, {full_requests} list requests, "
        f"{full_elapsed * 1000:.0f} ms per poll"
    )
    print(f"speed-up: {full_elapsed / elapsed:.0f}x (target >= 20x)")
    print(
        f"peak memory of our poll: {peak_small / 1024:.0f} KiB at {tenth} objects, "
        f"{peak / 1024:.0f} KiB at {args.objects} objects"
    )
    ok = (
        found == found_small == full_new == 10
        and requests <= 3
        and full_elapsed / elapsed >= 20
        and peak <= peak_small * 1.5
    )
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
