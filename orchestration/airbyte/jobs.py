"""Run Airbyte sync jobs to the end: start (or attach), poll, cancel on timeout or interrupt.

Plain functions over `AirbyteClient`, so they run and test without Prefect.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from orchestration.airbyte.client import ACTIVE_STATUSES, TERMINAL_STATUSES, AirbyteClient
from orchestration.airbyte.errors import (
    AirbyteApiError,
    AirbyteJobFailed,
    AirbyteTransientError,
)
from orchestration.airbyte.results import SyncResult
from orchestration.errors import UserError
from orchestration.logs import get_logger

_DURATION = TypeAdapter(timedelta)


class SyncInterrupted(Exception):
    """The caller asked the sync to stop (flow cancelled, process terminating)."""


def start_sync(client: AirbyteClient, connection_id: str) -> dict[str, Any]:
    """Start a sync job, or attach to the one already running; never starts two.

    `POST /jobs` is not retried blindly: after an ambiguous failure (timeout, 5xx) the request
    may have created the job, so the jobs created since the first attempt are checked first.
    A 409 (a sync is already running) attaches to the running job.
    """
    log = get_logger()
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    attempt = 0
    while True:
        attempt += 1
        try:
            return client.create_sync_job(connection_id)
        except AirbyteApiError as exc:
            if exc.status_code != 409:
                raise
            job = _newest_active(client, connection_id)
            if job is not None:
                log.info(
                    "Connection %s already has sync job %s running: attaching to it",
                    connection_id,
                    job["jobId"],
                )
                return job
            fault = AirbyteTransientError(f"POST jobs: 409 for {connection_id} but no job runs")
        except AirbyteTransientError as exc:
            fault = exc
            created = client.list_sync_jobs(connection_id, created_since=since)
            if created:
                log.info(
                    "POST /jobs failed (%s) but created job %s: attaching to it",
                    exc,
                    created[0]["jobId"],
                )
                return created[0]
        log.warning("Starting a sync of %s failed (%s); retrying", connection_id, fault)
        client.backoff_or_raise(attempt, fault)


def _newest_active(client: AirbyteClient, connection_id: str) -> dict[str, Any] | None:
    for status in ("running", "pending", "incomplete"):
        jobs = [
            j
            for j in client.list_sync_jobs(connection_id, status=status)
            if j.get("status") in ACTIVE_STATUSES
        ]
        if jobs:
            return jobs[0]
    return None


def wait_for_job(
    client: AirbyteClient,
    job: dict[str, Any],
    *,
    poll_interval: float,
    timeout: float,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Poll until the job ends; cancel it on timeout, on `stop`, or on any exception."""
    log = get_logger()
    job_id, connection_id = job["jobId"], job.get("connectionId", "?")
    deadline = time.monotonic() + timeout
    last_status = None
    stop = stop or threading.Event()
    try:
        while True:
            status = job.get("status")
            if status != last_status:
                log.info("Airbyte job %s (connection %s): %s", job_id, connection_id, status)
                last_status = status
            if status in TERMINAL_STATUSES:
                return job
            if status not in ACTIVE_STATUSES:
                raise AirbyteJobFailed(
                    f"Airbyte job {job_id} (connection {connection_id}) has unknown status "
                    f"{status!r}; stopped polling"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AirbyteJobFailed(
                    f"Airbyte job {job_id} (connection {connection_id}) did not finish within "
                    f"{timeout:g}s (AIRBYTE_TIMEOUT_SECONDS); cancelled it"
                )
            if stop.wait(min(poll_interval, remaining)):
                raise SyncInterrupted(f"sync of connection {connection_id} interrupted")
            job = client.get_job(job_id)
    except BaseException:
        cancel_quietly(client, job_id)
        raise


def cancel_quietly(client: AirbyteClient, job_id: int | str) -> None:
    """Best-effort cancel: a job that already ended (409) or an unreachable API is logged."""
    log = get_logger()
    try:
        client.cancel_job(job_id)
        log.warning("Cancelled Airbyte job %s", job_id)
    except AirbyteApiError as exc:
        if exc.status_code != 409:
            log.warning("Could not cancel Airbyte job %s: %s", job_id, exc)
    except Exception as exc:
        log.warning("Could not cancel Airbyte job %s: %s", job_id, exc)


def run_sync(
    client: AirbyteClient,
    connection_id: str,
    *,
    poll_interval: float,
    timeout: float,
    stop: threading.Event | None = None,
) -> SyncResult:
    """Start (or attach to) a sync of one connection and wait for its end."""
    started = datetime.now(UTC)
    job = start_sync(client, connection_id)
    final = wait_for_job(client, job, poll_interval=poll_interval, timeout=timeout, stop=stop)
    return result_from_job(final, connection_id, fallback_start=started)


def result_from_job(
    job: dict[str, Any], connection_id: str, *, fallback_start: datetime
) -> SyncResult:
    start = _parse_time(job.get("startTime")) or fallback_start
    end = None
    if job.get("duration"):
        try:
            end = start + _DURATION.validate_python(job["duration"])
        except ValueError:
            end = None
    end = end or _parse_time(job.get("lastUpdatedAt")) or datetime.now(UTC)
    return SyncResult(
        connection_id=str(job.get("connectionId") or connection_id),
        status=str(job.get("status")),
        job_id=str(job.get("jobId")),
        rows_synced=int(job.get("rowsSynced") or 0),
        bytes_synced=int(job.get("bytesSynced") or 0),
        started_at=start,
        ended_at=end,
        backend="airbyte-api",
    )


def _parse_time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sync_many(
    client: AirbyteClient,
    connection_ids: list[str],
    *,
    poll_interval: float,
    timeout: float,
    max_concurrent: int = 4,
) -> list[SyncResult]:
    """Sync every connection, at most `max_concurrent` at once; one result per connection.

    A connection that fails does not stop the others. If this thread is interrupted (flow
    cancellation, SIGTERM, Ctrl-C) every running job is cancelled before the interrupt goes on.
    """
    stop = threading.Event()
    log = get_logger()

    def one(connection_id: str) -> SyncResult:
        started = datetime.now(UTC)
        try:
            return run_sync(
                client, connection_id, poll_interval=poll_interval, timeout=timeout, stop=stop
            )
        except SyncInterrupted:
            raise
        except (UserError, AirbyteJobFailed, AirbyteTransientError) as exc:
            log.error("Sync of connection %s failed: %s", connection_id, exc)
            status = "timeout" if "did not finish" in str(exc) else "error"
            return SyncResult(
                connection_id=connection_id,
                status=status,
                started_at=started,
                ended_at=datetime.now(UTC),
                error=str(exc),
            )

    with ThreadPoolExecutor(max_workers=max(1, max_concurrent), thread_name_prefix="sync") as pool:
        futures: dict[Future[SyncResult], str] = {pool.submit(one, c): c for c in connection_ids}
        try:
            pending = set(futures)
            while pending:
                # Short waits keep this thread responsive to signals and cancellation.
                _, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures)  # each running sync cancels its job before returning
            raise
    return [futures_result(f, futures[f]) for f in futures]


def futures_result(future: Future[SyncResult], connection_id: str) -> SyncResult:
    exc = future.exception()
    if exc is not None:
        return SyncResult(connection_id=connection_id, status="error", error=str(exc))
    return future.result()
