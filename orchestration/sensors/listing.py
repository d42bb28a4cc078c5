"""Find the objects the cursor has not delivered yet by listing the prefix.

By default every poll lists the whole prefix: whatever the key layout, an object written
anywhere under it is found on the next poll. Nothing is inferred from key names.

`arrival-day` is an opt-in for prefixes whose keys are written under the partition of the day
they arrive (`2026/11/25/`, `2026-11-25/`, `dt=2026-11-25/` or `date=2026-11-25/`): a poll then
lists only today's partition and `lookback_partitions` days before it (plus every day back to
the cursor's horizon after a pause), and a full listing still runs every `full_scan_every`,
which delivers anything written elsewhere within that bound. Either way only the `batch_size`
oldest new objects are held in memory.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from orchestration.errors import UserError
from orchestration.sensors.cursor import Cursor, S3Object

KeyLayout = Literal["any", "arrival-day"]
KEY_LAYOUTS: tuple[str, ...] = ("any", "arrival-day")
DAY_FORMATS = {
    "yyyy/mm/dd": (re.compile(r"^\d{4}/$"), "%Y/%m/%d/"),
    "yyyy-mm-dd": (re.compile(r"^\d{4}-\d{2}-\d{2}/$"), "%Y-%m-%d/"),
    "dt=yyyy-mm-dd": (re.compile(r"^dt=\d{4}-\d{2}-\d{2}/$"), "dt=%Y-%m-%d/"),
    "date=yyyy-mm-dd": (re.compile(r"^date=\d{4}-\d{2}-\d{2}/$"), "date=%Y-%m-%d/"),
}
MAX_PARTITIONS_PER_POLL = 31  # further behind than this: one full listing is cheaper


def detect_day_format(s3: Any, bucket: str, prefix: str) -> str | None:
    """The day-partition format the prefix's first level follows, or None (empty or mixed).

    Only used when the user declared `arrival-day`: it picks the partition names to list, it
    never decides whether to narrow the listing."""
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=1000)
    children = [p["Prefix"][len(prefix) :] for p in response.get("CommonPrefixes", [])]
    if not children:
        return None
    for name, (pattern, _) in DAY_FORMATS.items():
        if all(pattern.match(child) for child in children):
            return name
    patterns = [pattern for pattern, _ in DAY_FORMATS.values()]
    odd = next((c for c in children if not any(p.match(c) for p in patterns)), children[-1])
    raise UserError(
        f"S3_KEY_LAYOUT=arrival-day, but s3://{bucket}/{prefix} holds "
        f"{odd!r}, which is not a day partition (yyyy/mm/dd/, yyyy-mm-dd/, "
        "dt=yyyy-mm-dd/ or date=yyyy-mm-dd/): use the default layout 'any'"
    )


@dataclass
class Listing:
    batch: list[S3Object]
    new_objects: int  # all new objects found (the batch holds the oldest of them)
    list_requests: int
    full: bool  # the whole prefix was listed


def day_partitions(day_format: str | None, prefix: str, start: date, end: date) -> list[str] | None:
    """Day partition prefixes from `start` to `end`, or None when the whole prefix is cheaper
    (or the format is not known yet)."""
    if day_format is None or (end - start).days > MAX_PARTITIONS_PER_POLL:
        return None
    fmt = DAY_FORMATS[day_format][1]
    return [
        prefix + (start + timedelta(days=i)).strftime(fmt) for i in range((end - start).days + 1)
    ]


def recent_partitions(
    cursor: Cursor, day_format: str | None, prefix: str, lookback_partitions: int, now: datetime
) -> list[str] | None:
    """Arrival-day poll: today, `lookback_partitions` days before, and back to the horizon."""
    start = now.date() - timedelta(days=lookback_partitions)
    if cursor.horizon is not None:
        start = min(start, cursor.horizon.astimezone(UTC).date())
    return day_partitions(day_format, prefix, start, now.date())


def find_new(
    s3: Any, bucket: str, prefixes: list[str], cursor: Cursor, *, batch_size: int
) -> tuple[list[S3Object], int, int]:
    """The oldest `batch_size` objects under `prefixes` the cursor has not delivered, oldest
    first; with the count of all new objects found and the list requests made."""
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
                item = (-obj.last_modified.timestamp(), _Desc(obj.key), obj.etag, obj)
                if len(heap) < batch_size:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
    batch = sorted(entry[3] for entry in heap)
    return batch, new_objects, requests


class _Desc(str):
    """Reverses key order inside the heap (ties on LastModified keep the smallest keys)."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
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


@dataclass
class Lister:
    """Chooses what one poll lists: the whole prefix, or (arrival-day) recent partitions with
    a full listing at least every `full_scan_every` (event mode calls it only then)."""

    s3: Any
    bucket: str
    prefix: str
    layout: KeyLayout = "any"
    lookback_partitions: int = 1
    full_scan_every: timedelta = timedelta(hours=1)
    periodic: bool = False  # whole-prefix listings only every `full_scan_every`
    day_format: str | None = None

    def list_new(self, cursor: Cursor, batch_size: int, now: datetime | None = None) -> Listing:
        now = now or datetime.now(UTC)
        if self.layout == "arrival-day" and self.day_format is None:
            self.day_format = detect_day_format(self.s3, self.bucket, self.prefix)
        prefixes = self._narrowed(cursor, now)
        if prefixes is None:
            started = now
            batch, new_objects, requests = find_new(
                self.s3, self.bucket, [self.prefix], cursor, batch_size=batch_size
            )
            if new_objects <= len(batch):  # the whole prefix was seen: a complete scan
                cursor.last_full_scan = started
            return Listing(batch, new_objects, requests, full=True)
        batch, new_objects, requests = find_new(
            self.s3, self.bucket, prefixes, cursor, batch_size=batch_size
        )
        return Listing(batch, new_objects, requests, full=False)

    def full_scan_due(self, cursor: Cursor, now: datetime) -> bool:
        last = cursor.last_full_scan
        return last is None or now - last >= self.full_scan_every

    def keep_since(self, cursor: Cursor) -> datetime | None:
        """With periodic full scans: what the next one must still tell apart (Cursor.commit)."""
        return cursor.last_full_scan if self.periodic else None

    def _narrowed(self, cursor: Cursor, now: datetime) -> list[str] | None:
        if self.layout != "arrival-day" or self.full_scan_due(cursor, now):
            return None
        return recent_partitions(
            cursor, self.day_format, self.prefix, self.lookback_partitions, now
        )
