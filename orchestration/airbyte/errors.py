"""Airbyte API failures, split by what the caller should do about them."""

from __future__ import annotations

from orchestration.errors import StepFailed, UserError


class AirbyteApiError(UserError):
    """A permanent API error (wrong credentials, unknown connection, rejected request)."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        problem: str = "",
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.problem = problem  # the problem document's title, e.g. "try-again-later"
        self.reason = reason  # the server's own words (`data.message`, else `detail`)


class AirbyteTransientError(Exception):
    """A fault worth retrying: connection/read errors, timeouts, 429, 5xx."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, request_sent: bool = True
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.request_sent = request_sent  # False: the server cannot have acted on it


class AirbyteJobFailed(StepFailed):
    """The sync job ended in `failed` or `cancelled`, or never ended in time."""

    def __init__(self, message: str, job_id: int | str | None = None) -> None:
        super().__init__(message)
        self.job_id = None if job_id is None else str(job_id)


class AirbyteJobTimedOut(AirbyteJobFailed):
    """The job did not end within its timeout (AIRBYTE_TIMEOUT_SECONDS)."""
