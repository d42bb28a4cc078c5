"""The outcome of one Airbyte sync, whichever backend ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SyncResult:
    connection_id: str
    status: str
    job_id: str | None = None
    rows_synced: int = 0
    bytes_synced: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    streams: dict[str, int] = field(default_factory=dict)  # rows per stream, when known
    stream_bytes: dict[str, int] = field(default_factory=dict)  # bytes per stream, when known
    backend: str = "airbyte-api"
    error: str = ""
    connection_name: str = ""  # Airbyte's name for it, when known
    connection_streams: tuple[str, ...] = ()  # the streams the connection syncs, when known
    source_name: str = ""  # its source's and destination's names, when known
    destination_name: str = ""

    @property
    def label(self) -> str:
        if self.connection_name:
            return f"{self.connection_name!r} ({self.connection_id})"
        return self.connection_id

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 3)

    def failure_line(self) -> str:
        job = f" job {self.job_id}" if self.job_id else ""
        reason = f": {self.error}" if self.error else ""
        return f"connection {self.label}{job} {self.status}{reason}"

    def as_row(self) -> dict[str, object]:
        return {
            "connection": self.connection_id,
            "name": self.connection_name,
            "source": self.source_name,
            "destination": self.destination_name,
            "streams": ", ".join(self.connection_streams),
            "job_id": self.job_id or ("embedded" if self.backend == "embedded" else ""),
            "status": self.status,
            "rows": self.rows_synced,
            "bytes": self.bytes_synced,
            "duration_s": self.duration_seconds,
            "started_at": self.started_at.isoformat() if self.started_at else "",
            "ended_at": self.ended_at.isoformat() if self.ended_at else "",
        }

    def table_rows(self) -> list[dict[str, object]]:
        """The connection's row (stream `*`), then one row per stream whose rows are known
        (the embedded sync's; Airbyte's public API reports a job's totals only)."""
        whole = {"stream": "*", **self.as_row()}
        per_stream: list[dict[str, object]] = [
            {
                **dict.fromkeys(whole, ""),  # the connection's own columns said once, above
                "stream": stream,
                "connection": self.connection_id,
                "rows": rows,
                "bytes": self.stream_bytes.get(stream, ""),
            }
            for stream, rows in self.streams.items()
        ]
        return [whole, *per_stream]
