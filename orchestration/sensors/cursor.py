"""The S3 sensor's cursor: which object versions were already handed downstream.

An object version is (key, LastModified, ETag): a new key, or an old key with a newer
LastModified or another ETag (a same-second overwrite), is new. The cursor remembers the
versions it delivered whose LastModified is at or after its *horizon*; versions older than the
horizon count as seen. The horizon trails the newest delivered LastModified by `lookback`, so:
keys may arrive in any order and under any partition, many objects may share one second, the
object delivered last may be deleted, and memory is bounded by what arrives within the window.
What the horizon costs is stated, not hidden: an object that first becomes visible more than
`lookback` after its own LastModified (a multipart upload that ran longer than that) is older
than the horizon when it shows up. Event mode has no such limit (the event itself says new).

Versions are stored as 16-character digests grouped by LastModified second, about 20
characters per object, so a cursor stays small enough to save after every batch.

`pending` holds a batch that was handed to the trigger but not yet committed: a restarted
sensor re-sends exactly that batch (same idempotency key) before looking for new objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CURSOR_VERSION = 2
DEFAULT_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True, order=True)
class S3Object:
    last_modified: datetime
    key: str
    size: int = 0
    etag: str = ""

    @property
    def version_id(self) -> str:
        """A short digest of (key, LastModified, ETag): what "already delivered" compares."""
        raw = f"{self.key}\0{_second(self.last_modified)}\0{self.etag}".encode()
        return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode()

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


def _second(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def batch_key(bucket: str, prefix: str, batch: list[S3Object]) -> str:
    """Stable idempotency key of a batch: the same batch always maps to the same run."""
    digest = hashlib.sha256(f"{bucket}\0{prefix}".encode())
    for obj in batch:
        digest.update(f"\0{obj.key}\0{obj.last_modified.isoformat()}\0{obj.etag}".encode())
    return f"s3-sensor-{digest.hexdigest()[:32]}"


@dataclass
class Cursor:
    horizon: datetime | None = None  # versions older than this count as delivered
    watermark: datetime | None = None  # newest LastModified delivered
    lookback: timedelta = DEFAULT_LOOKBACK
    seen: dict[str, datetime] = field(default_factory=dict)  # version id -> LastModified
    pending: list[S3Object] = field(default_factory=list)
    objects_seen: int = 0
    last_full_scan: datetime | None = None  # start of the last listing of the whole prefix

    def is_new(self, obj: S3Object, *, below_horizon_too: bool = False) -> bool:
        """Not delivered yet. `below_horizon_too`: the caller knows the object was just written
        (an S3 event), so an old LastModified is no reason to skip it."""
        if not below_horizon_too and self.horizon is not None and obj.last_modified < self.horizon:
            return False
        return obj.version_id not in self.seen

    def commit(self, batch: list[S3Object], *, keep_since: datetime | None = None) -> None:
        """Record a batch as delivered, advance the watermark, forget what fell out of the window.

        `keep_since` holds the horizon back (arrival-day listing keeps everything since the
        last full scan, so that the next full scan can still tell what is new)."""
        for obj in batch:
            self.seen[obj.version_id] = obj.last_modified
            if self.watermark is None or obj.last_modified > self.watermark:
                self.watermark = obj.last_modified
        self.objects_seen += len(batch)
        self.pending = []
        self.advance_horizon(keep_since)

    def advance_horizon(self, keep_since: datetime | None = None) -> None:
        if self.watermark is None:
            return
        candidate = self.watermark - self.lookback
        if keep_since is not None:
            candidate = min(candidate, keep_since - self.lookback)
        if self.horizon is None or candidate > self.horizon:  # never moves back
            self.horizon = candidate
            self.seen = {v: lm for v, lm in self.seen.items() if lm >= candidate}

    def start_now(self, now: datetime | None = None) -> None:
        """Skip everything already there: only objects written from now on are new.

        Floored to the second: S3 LastModified has one-second resolution, so an object written
        later in this same second carries an earlier-looking time and must not be skipped."""
        self.horizon = (now or datetime.now(UTC)).replace(microsecond=0)

    def to_json(self) -> str:
        by_second: dict[str, list[str]] = {}
        for version, last_modified in self.seen.items():
            by_second.setdefault(_second(last_modified), []).append(version)
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "horizon": _iso(self.horizon),
                "watermark": _iso(self.watermark),
                "lookback_s": self.lookback.total_seconds(),
                "seen": {second: sorted(v) for second, v in sorted(by_second.items())},
                "pending": [o.as_json() for o in self.pending],
                "objects_seen": self.objects_seen,
                "last_full_scan": _iso(self.last_full_scan),
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        data = json.loads(text)
        if data.get("version", 1) == 1:
            return cls._from_v1(data)
        seen = {
            version: datetime.fromisoformat(second)
            for second, versions in data.get("seen", {}).items()
            for version in versions
        }
        return cls(
            horizon=_parse(data.get("horizon")),
            watermark=_parse(data.get("watermark")),
            lookback=timedelta(seconds=float(data["lookback_s"]))
            if "lookback_s" in data
            else DEFAULT_LOOKBACK,
            seen=seen,
            pending=[S3Object.from_json(o) for o in data.get("pending", [])],
            objects_seen=int(data.get("objects_seen", 0)),
            last_full_scan=_parse(data.get("last_full_scan")),
        )

    @classmethod
    def _from_v1(cls, data: dict[str, Any]) -> Cursor:
        """The first format kept keys without ETags and a 5-minute window: start the horizon at
        its newest delivered second, so nothing it delivered is delivered again."""
        watermark = _parse(data.get("watermark"))
        return cls(
            horizon=None if watermark is None else watermark + timedelta(seconds=1),
            watermark=watermark,
            pending=[S3Object.from_json(o) for o in data.get("pending", [])],
            objects_seen=int(data.get("objects_seen", 0)),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
