"""Airbyte API payloads as typed records, parsed once at the boundary.

Field names and values follow the public API's `JobResponse`, `JobStatusEnum` and
`ConnectionResponse` (airbyte-api-python-sdk, `models/jobresponse.py`, `jobstatusenum.py`,
`connectionresponse.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from orchestration.errors import AirbyteTransientError

__all__ = ["Connection", "Job", "JobStatus"]

_DURATION = TypeAdapter(timedelta)


class JobStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    INCOMPLETE = "incomplete"  # a failed attempt that Airbyte will retry
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class Job:
    """One job as the API reported it. `status` is None for a status this code does not
    know (a newer server): callers stop and leave such a job alone; `raw_status` says it."""

    job_id: str
    connection_id: str
    status: JobStatus | None
    raw_status: str
    rows_synced: int = 0
    bytes_synced: int = 0
    start_time: datetime | None = None
    duration: timedelta | None = None
    last_updated_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.status is not None and self.status.ended

    @property
    def active(self) -> bool:
        return self.status is not None and not self.status.ended

    @property
    def end_time(self) -> datetime | None:
        if self.start_time is not None and self.duration is not None:
            return self.start_time + self.duration
        return self.last_updated_at

    @classmethod
    def from_api(cls, payload: dict[str, Any], *, connection_id: str = "") -> Job:
        """A `JobResponse`; a reply without a job id (a proxy's `{}`) is a transient fault."""
        if payload.get("jobId") in (None, ""):
            raise AirbyteTransientError(f"a job reply without jobId: {str(payload)[:120]}")
        raw = str(payload.get("status") or "")
        try:
            status: JobStatus | None = JobStatus(raw)
        except ValueError:
            status = None
        return cls(
            job_id=str(payload["jobId"]),
            connection_id=str(payload.get("connectionId") or connection_id),
            status=status,
            raw_status=raw,
            rows_synced=_int(payload.get("rowsSynced")),
            bytes_synced=_int(payload.get("bytesSynced")),
            start_time=_time(payload.get("startTime")),
            duration=_duration(payload.get("duration")),
            last_updated_at=_time(payload.get("lastUpdatedAt")),
        )


@dataclass(frozen=True)
class Connection:
    """A connection as `GET /connections/{id}` reports it (what a message names it by)."""

    connection_id: str
    name: str
    status: str  # active | inactive | deprecated | locked
    status_reason: str = ""
    streams: tuple[str, ...] = ()
    source_id: str = ""
    destination_id: str = ""
    source_name: str = ""  # from `GET /sources/{id}` (or the workspace's listing), when read
    destination_name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name!r} ({self.connection_id})" if self.name else self.connection_id

    @classmethod
    def from_api(cls, payload: dict[str, Any]) -> Connection:
        return cls(
            connection_id=str(payload.get("connectionId") or ""),
            name=str(payload.get("name") or ""),
            status=str(payload.get("status") or ""),
            status_reason=str(payload.get("statusReason") or ""),
            source_id=str(payload.get("sourceId") or ""),
            destination_id=str(payload.get("destinationId") or ""),
            streams=tuple(
                str(s.get("name"))
                for s in (payload.get("configurations") or {}).get("streams") or []
                if isinstance(s, dict) and s.get("name")
            ),
        )


def _int(value: object) -> int:
    try:
        return int(value or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: object) -> timedelta | None:
    if not value:
        return None
    try:
        return _DURATION.validate_python(value)
    except ValueError:
        return None
