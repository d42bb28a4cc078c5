"""Every error elt raises on purpose, in one hierarchy: what each kind means for the exit status
of an `elt` command and for retries.

    EltError
    ├── UserError               something to fix (input, configuration, a refusal): one line
    │   │                       naming the fix; exit 1; never retried, retrying cannot fix it
    │   ├── ConfigError         a setting missing or invalid, named by its variable or flag
    │   │   └── LocalServerNotAnswering   the local Prefect server's process answers nothing
    │   ├── AirbyteApiError     Airbyte refused a request for good (credentials, unknown
    │   │                       connection, inactive connection)
    │   └── LeaseLost           another S3 sensor took over this sensor's cursor
    ├── StepFailed              a step ran and failed: exit 1, or the wrapped tool's own status
    │   │                       (`exit_code`: dbt's 2 for a project it cannot parse); a
    │   │                       deployment's Prefect retries apply
    │   ├── AirbyteJobFailed    a sync job ended failed or cancelled
    │   │   └── AirbyteJobTimedOut   ... or did not end within AIRBYTE_TIMEOUT_SECONDS
    │   ├── AirbyteSyncFailed   some connections of a sync failed (`results`: every one's outcome)
    │   ├── FreshnessBreached   an SLA is in error (`results`: every table's and mart's verdict)
    │   └── SlotWaitTimedOut    no slot of a global concurrency limit came in time
    └── TransientError          a fault worth retrying (connection errors, timeouts, 429, 5xx):
        │                       retried inside the step until its deadline; what is left when
        │                       the deadline passes reaches the user as a StepFailed or UserError
        └── AirbyteTransientError

`elt` prints a UserError or a StepFailed as its message alone (`error: ...`); anything else
(a bug, a library's own error) as its type and first line, with a pointer to `--debug`. Ctrl-C
and SIGTERM are not errors: the run ends Cancelled (see `orchestration.runtime.interrupts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = [
    "AirbyteApiError",
    "AirbyteJobFailed",
    "AirbyteJobTimedOut",
    "AirbyteSyncFailed",
    "AirbyteTransientError",
    "ConfigError",
    "EltError",
    "FreshnessBreached",
    "LeaseLost",
    "LocalServerNotAnswering",
    "SlotWaitTimedOut",
    "StepFailed",
    "TransientError",
    "UserError",
    "first_line",
]


class EltError(Exception):
    """The root of every error elt raises on purpose."""


class UserError(EltError):
    """A problem with configuration or input; the message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A setting is missing or invalid."""


class LocalServerNotAnswering(ConfigError):
    """The recorded local server's process is alive, but its API does not answer."""


class AirbyteApiError(UserError):
    """A permanent Airbyte API error (wrong credentials, unknown connection, rejected request)."""

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


class LeaseLost(UserError):
    """Another sensor took over this cursor (ours was not renewed in time)."""


class StepFailed(EltError):
    """A pipeline step ran and failed (a sync, a dbt node, a freshness breach).

    `exit_code` is what `elt` exits with: 1, or the wrapped tool's own status where it has
    one (dbt exits 2 when it could not run at all, e.g. a project that does not parse)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class AirbyteJobFailed(StepFailed):
    """The sync job ended in `failed` or `cancelled`, or never ended in time."""

    def __init__(self, message: str, job_id: int | str | None = None) -> None:
        super().__init__(message)
        self.job_id = None if job_id is None else str(job_id)


class AirbyteJobTimedOut(AirbyteJobFailed):
    """The job did not end within its timeout (AIRBYTE_TIMEOUT_SECONDS)."""


class _Outcome(Protocol):
    @property
    def succeeded(self) -> bool: ...

    def failure_line(self) -> str: ...


class AirbyteSyncFailed(StepFailed):
    """Some connections failed; `results` holds every connection's outcome (`SyncResult`)."""

    def __init__(self, results: Sequence[_Outcome]) -> None:
        super().__init__("\n".join(r.failure_line() for r in results if not r.succeeded))
        self.results: list[Any] = list(results)


class FreshnessBreached(StepFailed):
    """Some SLA is in error; `results` holds every table's and mart's verdict (`SlaResult`)."""

    def __init__(self, message: str, results: Sequence[Any]) -> None:
        super().__init__(message)
        self.results: list[Any] = list(results)


class SlotWaitTimedOut(StepFailed):
    """No slot of a global concurrency limit came within the wait allowed."""


class TransientError(EltError):
    """A fault worth retrying; retried within the step's deadline, never past it."""


class AirbyteTransientError(TransientError):
    """An Airbyte fault worth retrying: connection/read errors, timeouts, 429, 5xx."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, request_sent: bool = True
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.request_sent = request_sent  # False: the server cannot have acted on it


def first_line(what: BaseException | str, *, otherwise: str | None = None) -> str:
    """The first non-blank line of an exception's message (or of a text): what a one-line
    report or warning quotes of it. When there is none: `otherwise` if given, else the
    exception's type name (nothing for a text)."""
    text = str(what)
    for line in ("" if text == "None" else text).splitlines():  # "None": Prefect's message-less
        if line.strip():
            return line.strip()
    if otherwise is not None:
        return otherwise
    return type(what).__name__ if isinstance(what, BaseException) else ""
