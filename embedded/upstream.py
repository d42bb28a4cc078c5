"""The one home of the private PyAirbyte names `faker_sync.py` uses (this folder is its own
environment, so the application's `orchestration/upstream.py` cannot serve it).

PyAirbyte's `ReadResult` counts the records of each stream it read in this sync in its
progress tracker, which it keeps private (`ReadResult._progress_tracker`); its public
`processed_records` is the total only. `make lint` (scripts/check_private_names.py) allows
private upstream names here and in `orchestration/upstream.py`, nowhere else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["read_counts"]


def read_counts(result: Any) -> tuple[dict[str, int], dict[str, int], int]:
    """Records and bytes read per stream in this sync, and the bytes in all. A PyAirbyte that
    renamed its tracker fails here in one line (embedded/uv.lock decides which one runs)."""
    tracker = getattr(result, "_progress_tracker", None)
    if tracker is None or not hasattr(tracker, "stream_read_counts"):
        raise RuntimeError(
            "PyAirbyte's ReadResult._progress_tracker.stream_read_counts is gone in the installed "
            "airbyte package: adapt embedded/upstream.py or lock the last version that has it"
        )
    counts = {str(k): int(v) for k, v in dict(tracker.stream_read_counts).items()}
    stream_bytes = dict(getattr(tracker, "stream_bytes_read", {}) or {})
    return (
        counts,
        {str(k): int(v) for k, v in stream_bytes.items()},
        int(getattr(tracker, "total_bytes_read", 0) or 0),
    )
