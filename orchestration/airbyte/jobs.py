"""Run Airbyte sync jobs to the end: start (or attach), poll, cancel on timeout or interrupt.

Losing contact with the API is never a reason to cancel: polling waits an outage out for as
long as the job's timeout allows, and a cancel is reported only once Airbyte confirms it.

Plain functions over `AirbyteClient`, so they run and test without Prefect.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from orchestration.airbyte.client import AirbyteClient
from orchestration.airbyte.models import Job, JobStatus
from orchestration.airbyte.sync_results import SyncResult
from orchestration.errors import (
    AirbyteApiError,
    AirbyteJobFailed,
    AirbyteJobTimedOut,
    AirbyteTransientError,
    UserError,
)
from orchestration.runtime import interrupts
from orchestration.runtime.elt_events import EltEvent, emit_elt_event
from orchestration.runtime.logs import SAID_BY_THE_COMMAND, get_logger


class SyncInterrupted(Exception):
    """The caller asked the sync to stop (flow cancelled, process terminating)."""


CANCEL_TIMEOUT_SECONDS = 60.0  # how long a cancel (DELETE, then read back) may keep trying
# When the process is told to stop (Ctrl-C, SIGTERM), it must end within seconds: the cancel
# then gets this long, and says so if it could not be confirmed.
INTERRUPT_CANCEL_TIMEOUT_SECONDS = 5.0


def start_sync(client: AirbyteClient, connection_id: str, *, deadline: float | None = None) -> Job:
    """Start a sync job, or attach to the one already running; never starts two.

    `POST /jobs` is not retried blindly: after an ambiguous failure (timeout, 5xx, a reply
    that is not JSON) the request may have created the job, so a job created since the first
    attempt (by the server's clock) is looked for first. A 409 attaches to the connection's
    running sync; a 409 for anything else (an inactive connection) fails at once with
    Airbyte's reason. Transient faults are retried until `deadline`.
    """
    log = get_logger()
    first_sent = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return client.create_sync_job(connection_id)
        except AirbyteApiError as exc:
            if exc.status_code != 409:
                raise
            job = newest_active_job(client, connection_id, deadline=deadline)
            if job is not None:
                log.info(
                    "Connection %s already has sync job %s (%s): attaching to it",
                    connection_id,
                    job.job_id,
                    job.raw_status,
                )
                return job
            if exc.problem != "try-again-later":  # not "a sync is already running"
                raise refused_sync(client, connection_id, exc, deadline=deadline) from None
            # another kind of job (a reset, a clear) runs, or the sync just ended: try again
            fault = AirbyteTransientError(f"POST jobs: 409 for {connection_id}: {exc.reason}")
        except AirbyteTransientError as exc:
            fault = exc
            try:  # the request may have created the job before the reply was lost
                created = (
                    job_created_since(client, connection_id, first_sent, deadline=deadline)
                    if exc.request_sent
                    else None
                )
            except AirbyteTransientError:
                created = None  # unreachable still: checked again before the next attempt
            if created is not None:
                log.info(
                    "POST /jobs failed (%s) but created job %s: attaching to it",
                    exc,
                    created.job_id,
                )
                return created
        log.warning("Starting a sync of %s failed (%s); retrying", connection_id, fault)
        client.backoff_or_raise(attempt, fault, deadline=deadline)


# How far apart two clocks' readings of one moment may be: the `Date` header and job times
# are whole seconds.
CLOCK_MARGIN_SECONDS = 5.0


def job_created_since(
    client: AirbyteClient, connection_id: str, sent: float, *, deadline: float | None = None
) -> Job | None:
    """The newest sync job of the connection created since `sent` (our monotonic clock),
    judged by the server's clock (the `Date` of the listing's reply): a server whose clock runs
    ahead or behind ours never hides a job just created, nor passes an old one off as new."""
    since: datetime | None = None
    newest: Job | None = None
    for job in client.sync_jobs(connection_id, deadline=deadline):
        if since is None:  # the first page has come: its reply dated the server's clock
            now = client.server_now()
            if now is None:
                return None
            since = now - timedelta(seconds=time.monotonic() - sent + CLOCK_MARGIN_SECONDS)
        created_since = job.start_time is not None and job.start_time >= since
        if created_since and (newest is None or int(job.job_id) > int(newest.job_id)):
            newest = job
    return newest


def refused_sync(
    client: AirbyteClient,
    connection_id: str,
    exc: AirbyteApiError,
    *,
    deadline: float | None = None,
) -> AirbyteApiError:
    """Airbyte will not start a sync of this connection (and none runs): why, in one line,
    with the connection's name and status (`GET /connections/{id}`)."""
    try:
        connection = client.get_connection(connection_id, deadline=deadline)
    except (AirbyteApiError, AirbyteTransientError):
        connection = None
    said = f"Airbyte: HTTP 409 {exc.problem or 'conflict'}: {exc.reason or 'no reason given'}"
    if connection is None:
        return AirbyteApiError(
            f"Airbyte will not start a sync of connection {connection_id} ({said})", 409
        )
    why = f" ({connection.status_reason})" if connection.status_reason else ""
    if connection.status == "inactive":
        fix = "enable it in Airbyte"
    elif connection.status != "active":
        fix = "fix it in Airbyte, or remove it from AIRBYTE_CONNECTION_ID"
    else:
        fix = "check the connection in Airbyte"
    return AirbyteApiError(
        f"connection {connection.label} is {connection.status}{why} and Airbyte will not sync "
        f"it ({said}): {fix}",
        409,
    )


def newest_active_job(
    client: AirbyteClient, connection_id: str, *, deadline: float | None = None
) -> Job | None:
    """The connection's sync job that has not ended (queued ones included), looked for page
    after page (a busy connection's listing is long)."""
    return next((j for j in client.sync_jobs(connection_id, deadline=deadline) if j.active), None)


def wait_for_job(
    client: AirbyteClient,
    job: Job,
    *,
    poll_interval: float,
    timeout: float,
    stop: threading.Event | None = None,
    deadline: float | None = None,
    cancel_timeout: float = CANCEL_TIMEOUT_SECONDS,
) -> Job:
    """Poll until the job ends. Only the timeout and `stop` cancel it, and the cancel is
    verified; an API outage is waited out until the timeout, never acted on."""
    log = get_logger()
    job_id, connection_id = job.job_id, job.connection_id or "?"
    deadline = deadline if deadline is not None else time.monotonic() + timeout
    last_status = None
    stop = stop or threading.Event()
    try:
        while True:
            if job.raw_status != last_status:
                log.info(
                    "Airbyte job %s (connection %s): %s", job_id, connection_id, job.raw_status
                )
                last_status = job.raw_status
            if job.ended:
                return job
            if job.status is None:
                raise AirbyteJobFailed(
                    f"Airbyte job {job_id} (connection {connection_id}) has unknown status "
                    f"{job.raw_status!r}; stopped polling and left the job as it is",
                    job_id=job_id,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SyncTimedOut
            if stop.wait(min(poll_interval, remaining)):
                raise SyncInterrupted(f"sync of connection {connection_id} interrupted")
            try:
                job = client.get_job(job_id, deadline=deadline)
            except AirbyteTransientError:
                raise SyncTimedOut from None  # unreachable for as long as the job may run
    except SyncTimedOut:
        with interrupts.shielded():
            outcome, final = _cancel_job(client, job_id, connection_id, cancel_timeout)
        if final is not None and final.status is JobStatus.SUCCEEDED:  # it ended in time
            log.warning(
                "Airbyte job %s (connection %s) succeeded as the timeout passed: kept as is",
                job_id,
                connection_id,
            )
            return final
        raise AirbyteJobTimedOut(
            f"Airbyte job {job_id} (connection {connection_id}) did not finish within "
            f"{timeout:g}s (AIRBYTE_TIMEOUT_SECONDS); {outcome}",
            job_id=job_id,
        ) from None
    except (SyncInterrupted, interrupts.Stopped):
        _cancel_on_stop(client, job_id, connection_id, cancel_timeout)
        raise
    except BaseException as exc:
        # Ctrl-C, SystemExit, Prefect's termination and cancellation signals: we are told to
        # stop, so the job goes too. An ordinary exception (an API error) leaves it alone.
        if not isinstance(exc, Exception):
            _cancel_on_stop(client, job_id, connection_id, cancel_timeout)
        raise


def _cancel_on_stop(
    client: AirbyteClient, job_id: str, connection_id: str, cancel_timeout: float
) -> None:
    """Told to stop: cancel the job, unless Prefect is rescheduling this run (its pod is
    evicted): then the job goes on, and the next attempt attaches to it."""
    if interrupts.handed_over():
        get_logger().warning(
            "Airbyte job %s (connection %s) left running: Prefect reschedules this run (its "
            "process was told to stop by its infrastructure, not cancelled), and the next "
            "attempt attaches to the job",
            job_id,
            connection_id,
        )
        return
    quick = min(cancel_timeout, INTERRUPT_CANCEL_TIMEOUT_SECONDS)
    cancel_job(client, job_id, connection_id, cancel_timeout=quick)


class SyncTimedOut(Exception):
    """The job's time is up (AIRBYTE_TIMEOUT_SECONDS)."""


def cancel_job(
    client: AirbyteClient,
    job_id: str,
    connection_id: str,
    *,
    cancel_timeout: float = CANCEL_TIMEOUT_SECONDS,
) -> str:
    """Cancel a job and say only what was verified: "cancelled it" once Airbyte reports it
    cancelled, the job's own final status if it ended first, otherwise that it may still run
    (and an `elt.airbyte.cancel_failed` event, so an automation can alert someone).

    Airbyte's `DELETE /jobs/{id}` cancels the connection's *current* job, whatever the id.
    So the cancel is sent only while this job is the connection's running one: a job that
    has ended is never "cancelled" into a newer run of the same connection (started by the
    scheduler, the UI or another worker)."""
    with interrupts.shielded():  # a cancel is the clean-up of a stop: never stopped itself
        return _cancel_job(client, job_id, connection_id, cancel_timeout)[0]


class _NotSent(Exception):
    """The cancel was not sent: it would have hit another job."""


def _cancel_job(
    client: AirbyteClient, job_id: str, connection_id: str, cancel_timeout: float
) -> tuple[str, Job | None]:
    """`cancel_job`'s report, and the job as last read (None when it could not be)."""
    log = get_logger()
    job: Job | None = None
    deadline = time.monotonic() + cancel_timeout
    hit = ""
    try:
        job = client.get_job(job_id, deadline=deadline)
        if not job.ended:
            running = newest_active_job(client, connection_id, deadline=deadline)
            if running is not None and running.job_id == job_id:
                try:
                    client.cancel_job(job_id, deadline=deadline)
                except AirbyteApiError as exc:
                    if exc.status_code != 409:  # 409: not running any more
                        raise
                job = client.get_job(job_id, deadline=deadline)
                hit = _newer_job_cancelled(client, job_id, connection_id, deadline)
            else:  # it ended meanwhile (a newer run may have started), or the listing lags
                job = client.get_job(job_id, deadline=deadline)
                if not job.ended and running is not None:
                    raise _NotSent(
                        f"the connection runs job {running.job_id} now, which a cancel would "
                        "stop instead (Airbyte cancels a connection's current job): not sent"
                    )
                if not job.ended:
                    raise _NotSent("the connection lists no running sync job: not sent")
        status = job.status
    except (AirbyteApiError, AirbyteTransientError, _NotSent) as exc:
        reason = str(exc)
    else:
        if status is JobStatus.CANCELLED:
            log.warning("Cancelled Airbyte job %s (connection %s)%s", job_id, connection_id, hit)
            return "cancelled it" + hit, job
        if job.ended:
            log.warning("Airbyte job %s ended %s before it could be cancelled", job_id, status)
            return f"it ended {status} before it could be cancelled" + hit, job
        reason = f"it is still {job.raw_status} after the cancel request{hit}"
    message = f"could not cancel Airbyte job {job_id}: it may still be running ({reason})"
    # a warning: the run was cancelled as asked; what is left is for somebody to look at
    log.warning("%s (connection %s)", message, connection_id)
    emit_elt_event(
        EltEvent.AIRBYTE_CANCEL_FAILED,
        ("airbyte", "job", str(job_id)),
        f"Airbyte job {job_id}",
        {"job_id": str(job_id), "connection_id": connection_id, "reason": reason},
    )
    return message, job


def _newer_job_cancelled(
    client: AirbyteClient, job_id: str, connection_id: str, deadline: float
) -> str:
    """After a cancel: a newer run of the connection that it stopped too (it started between
    the check and the cancel), said as a clause; empty when there is none."""
    try:
        newest = next(client.sync_jobs(connection_id, page_size=1, max_pages=1, deadline=deadline))
    except (StopIteration, AirbyteApiError, AirbyteTransientError):
        return ""
    if int(newest.job_id) > int(job_id) and newest.status is JobStatus.CANCELLED:
        return f"; the cancel also stopped job {newest.job_id}, a newer run of the connection"
    return ""


def run_sync(
    client: AirbyteClient,
    connection_id: str,
    *,
    poll_interval: float,
    timeout: float,
    stop: threading.Event | None = None,
    cancel_timeout: float = CANCEL_TIMEOUT_SECONDS,
) -> SyncResult:
    """Start (or attach to) a sync of one connection and wait for its end; the timeout covers
    both, and API faults are retried for as long as it allows."""
    started = datetime.now(UTC)
    deadline = time.monotonic() + timeout
    try:
        job = start_sync(client, connection_id, deadline=deadline)
    except AirbyteTransientError as exc:
        raise AirbyteJobFailed(
            f"could not start a sync of connection {connection_id} within {timeout:g}s "
            f"(AIRBYTE_TIMEOUT_SECONDS): {exc}"
        ) from None
    final = wait_for_job(
        client,
        job,
        poll_interval=poll_interval,
        timeout=timeout,
        stop=stop,
        deadline=deadline,
        cancel_timeout=cancel_timeout,
    )
    return result_from_job(final, connection_id, fallback_start=started)


def result_from_job(job: Job, connection_id: str, *, fallback_start: datetime) -> SyncResult:
    return SyncResult(
        connection_id=job.connection_id or connection_id,
        status=job.raw_status,
        job_id=job.job_id,
        rows_synced=job.rows_synced,
        bytes_synced=job.bytes_synced,
        started_at=job.start_time or fallback_start,
        ended_at=job.end_time or datetime.now(UTC),
        backend="airbyte-api",
    )


def sync_one(
    client: AirbyteClient,
    connection_id: str,
    *,
    poll_interval: float,
    timeout: float,
    stop: threading.Event | None = None,
    cancel_timeout: float = CANCEL_TIMEOUT_SECONDS,
) -> SyncResult:
    """`run_sync`, with every failure but an interruption turned into a failed result."""
    started = datetime.now(UTC)
    try:
        return run_sync(
            client,
            connection_id,
            poll_interval=poll_interval,
            timeout=timeout,
            stop=stop,
            cancel_timeout=cancel_timeout,
        )
    except (UserError, AirbyteJobFailed, AirbyteTransientError) as exc:
        get_logger().error(
            "Sync of connection %s failed: %s", connection_id, exc, extra=SAID_BY_THE_COMMAND
        )
        status = "timeout" if isinstance(exc, AirbyteJobTimedOut) else "error"
        return SyncResult(
            connection_id=connection_id,
            status=status,
            job_id=getattr(exc, "job_id", None),
            started_at=started,
            ended_at=datetime.now(UTC),
            error=str(exc),
        )


def check_connection_ids(connection_ids: list[str]) -> list[str]:
    """The ids, each once; a duplicate would sync once and count twice, so it is refused."""
    duplicates = sorted({c for c in connection_ids if connection_ids.count(c) > 1})
    if duplicates:
        raise UserError(
            f"connection id(s) given more than once: {', '.join(duplicates)}: list each "
            "connection once (AIRBYTE_CONNECTION_ID or --connection)"
        )
    if not connection_ids:
        raise UserError("no Airbyte connection to sync: set AIRBYTE_CONNECTION_ID")
    return connection_ids
