"""The S3 sensor's cursor: which objects were already handed downstream.

A watermark on LastModified plus the (key, LastModified) pairs seen inside a look-back window
below it. Objects are new when they are not in that set and not older than the window, so:
keys may arrive in any lexicographic order, many objects may share one LastModified second,
the object the cursor saw last may be deleted, and an overwritten object (same key, newer
LastModified) is new again. Memory is bounded by what arrives within the window.

`pending` holds a batch that was handed to the trigger but not yet committed: a restarted
sensor re-sends exactly that batch (same idempotency key) before looking for new objects.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True, order=True)
class S3Object:
    last_modified: datetime
    key: str
    size: int = 0
    etag: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "last_modified": self.last_modified.isoformat(),
            "size": self.size,
            "etag": self.etag,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> S3Object:
        return cls(
            last_modified=datetime.fromisoformat(data["last_modified"]),
            key=data["key"],
            size=int(data.get("size", 0)),
            etag=str(data.get("etag", "")),
        )


def batch_key(bucket: str, prefix: str, batch: list[S3Object]) -> str:
    """Stable idempotency key of a batch: the same batch always maps to the same run."""
    digest = hashlib.sha256(f"{bucket}\0{prefix}".encode())
    for obj in batch:
        digest.update(f"\0{obj.key}\0{obj.last_modified.isoformat()}".encode())
    return f"s3-sensor-{digest.hexdigest()[:32]}"


@dataclass
class Cursor:
    watermark: datetime | None = None
    lookback: timedelta = timedelta(minutes=5)
    seen: dict[str, str] = field(default_factory=dict)  # key -> LastModified (ISO) in window
    pending: list[S3Object] = field(default_factory=list)
    objects_seen: int = 0

    @property
    def floor(self) -> datetime | None:
        """Objects older than this are not looked at any more."""
        return None if self.watermark is None else self.watermark - self.lookback

    def is_new(self, obj: S3Object) -> bool:
        if self.floor is not None and obj.last_modified < self.floor:
            return False
        return self.seen.get(obj.key) != obj.last_modified.isoformat()

    def commit(self, batch: list[S3Object]) -> None:
        """Record a batch as delivered: advance the watermark, prune the window."""
        for obj in batch:
            self.seen[obj.key] = obj.last_modified.isoformat()
            if self.watermark is None or obj.last_modified > self.watermark:
                self.watermark = obj.last_modified
        self.objects_seen += len(batch)
        self.pending = []
        floor = self.floor
        if floor is not None:
            self.seen = {k: v for k, v in self.seen.items() if datetime.fromisoformat(v) >= floor}

    def start_now(self, now: datetime | None = None) -> None:
        """Skip everything already there: only objects arriving from now on are new."""
        self.watermark = (now or datetime.now(UTC)) + self.lookback

    def to_json(self) -> str:
        return json.dumps(
            {
                "watermark": self.watermark.isoformat() if self.watermark else None,
                "lookback_s": self.lookback.total_seconds(),
                "seen": self.seen,
                "pending": [o.as_json() for o in self.pending],
                "objects_seen": self.objects_seen,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        data = json.loads(text)
        return cls(
            watermark=datetime.fromisoformat(data["watermark"]) if data["watermark"] else None,
            lookback=timedelta(seconds=float(data.get("lookback_s", 300))),
            seen=dict(data.get("seen", {})),
            pending=[S3Object.from_json(o) for o in data.get("pending", [])],
            objects_seen=int(data.get("objects_seen", 0)),
        )
