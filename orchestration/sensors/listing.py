"""Find the objects that arrived since the cursor, listing as little of the bucket as it can.

Fast path: when keys are partitioned by day under the prefix (`2026/11/22/`, `2026-11-22/`,
`dt=2026-11-22/` or `date=2026-11-22/`), only the day partitions between the cursor's floor
and today are listed (usually one or two ListObjectsV2 requests). Any other layout, and the
first poll of a sensor that starts from the beginning, lists the whole prefix. Either way only
the `batch_size` oldest new objects are kept in memory.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from orchestration.sensors.cursor import Cursor, S3Object

DAY_LAYOUTS = {
    "yyyy/mm/dd": (re.compile(r"^\d{4}/$"), "%Y/%m/%d/"),
    "yyyy-mm-dd": (re.compile(r"^\d{4}-\d{2}-\d{2}/$"), "%Y-%m-%d/"),
    "dt=yyyy-mm-dd": (re.compile(r"^dt=\d{4}-\d{2}-\d{2}/$"), "dt=%Y-%m-%d/"),
    "date=yyyy-mm-dd": (re.compile(r"^date=\d{4}-\d{2}-\d{2}/$"), "date=%Y-%m-%d/"),
}
MAX_PARTITIONS_PER_POLL = 31  # further behind than this: one full listing is cheaper


def detect_layout(s3: Any, bucket: str, prefix: str) -> str:
    """`flat`, or the day-partition layout that the prefix's first level follows."""
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=1000)
    children = [p["Prefix"][len(prefix) :] for p in response.get("CommonPrefixes", [])]
    if not children or response.get("KeyCount", 0) > len(children):
        return "flat"  # objects directly under the prefix: not partitioned
    for name, (pattern, _) in DAY_LAYOUTS.items():
        if all(pattern.match(child) for child in children):
            return name
    return "flat"


@dataclass
class Listing:
    batch: list[S3Object]
    new_objects: int  # all new objects found (the batch holds the oldest of them)
    list_requests: int


def partitions(layout: str, prefix: str, start: date, end: date) -> list[str] | None:
    """Day partition prefixes from `start` to `end`, or None to list the whole prefix."""
    if layout == "flat" or (end - start).days > MAX_PARTITIONS_PER_POLL:
        return None
    fmt = DAY_LAYOUTS[layout][1]
    return [
        prefix + (start + timedelta(days=i)).strftime(fmt) for i in range((end - start).days + 1)
    ]


def find_new(
    s3: Any,
    bucket: str,
    prefix: str,
    cursor: Cursor,
    *,
    layout: str,
    batch_size: int,
    now: datetime | None = None,
) -> Listing:
    """The oldest `batch_size` objects the cursor has not seen, oldest first."""
    now = now or datetime.now(UTC)
    floor = cursor.floor
    prefixes = (
        partitions(layout, prefix, floor.date(), now.date()) if floor is not None else None
    ) or [prefix]
    heap: list[tuple[Any, ...]] = []  # max-heap by negated order: keeps the oldest objects
    new_objects = 0
    requests = 0
    for part in prefixes:
        for page_objects in _pages(s3, bucket, part):
            requests += 1
            for obj in page_objects:
                if not cursor.is_new(obj):
                    continue
                new_objects += 1
                item = (-obj.last_modified.timestamp(), _Desc(obj.key), obj)
                if len(heap) < batch_size:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
    batch = sorted(entry[2] for entry in heap)
    return Listing(batch=batch, new_objects=new_objects, list_requests=requests)


class _Desc(str):
    """Reverses key order inside the heap (ties on LastModified keep the smallest keys)."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


def _pages(s3: Any, bucket: str, prefix: str) -> Iterator[list[S3Object]]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        yield [
            S3Object(
                last_modified=item["LastModified"].astimezone(UTC),
                key=item["Key"],
                size=int(item.get("Size", 0)),
                etag=str(item.get("ETag", "")).strip('"'),
            )
            for item in page.get("Contents", [])
            if not item["Key"].endswith("/")
        ]
