"""A small client for the Airbyte public API (`/api/public/v1` self-managed, `/v1` Cloud).

It retries only transient faults (connect/read errors and timeouts, 429 honouring
`Retry-After`, 5xx, a 2xx whose body is not JSON) with capped exponential backoff: a fixed
number of attempts, or until a deadline (polling a running job rides out an outage for as long
as the job may run). Any other 4xx fails at once with a message that says what to fix, read
from the problem document (`data.message`, else `detail`, else `title`). Authentication is an
`httpx.Auth` (see `auth`), outside the retry loop. Secrets never appear in messages or logs,
including credentials written into the server URL.
"""

from __future__ import annotations

import email.utils
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from orchestration.airbyte.auth import BearerToken, ClientCredentials, TokenRequestFailed
from orchestration.airbyte.models import Connection, Job
from orchestration.errors import AirbyteApiError, AirbyteTransientError, first_line
from orchestration.runtime import interrupts
from orchestration.runtime.logs import get_logger

__all__ = ["AirbyteClient", "RetryPolicy", "problem_reason", "redact_url"]

MAX_RETRY_AFTER_SECONDS = 300.0
MAX_PAGES = 10  # pages of a listing read for one question (200 jobs at the default size)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient faults are retried (a deadline, when a caller gives one, replaces
    `max_attempts`)."""

    request_timeout: float = 30.0
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 30.0


class AirbyteClient:
    """Thread-safe: one client can serve many concurrent syncs."""

    def __init__(
        self,
        server_url: str,
        auth: httpx.Auth | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._auth = auth
        self._sleep = sleep or interrupts.wait  # Ctrl-C and SIGTERM end a backoff at once
        self._clock_offset: float | None = None  # the server's clock minus ours (seconds)
        self._http = httpx.Client(
            base_url=self.server_url + "/",
            auth=auth,
            timeout=self.retry.request_timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "elt-orchestration"},
        )

    @property
    def auth_mode(self) -> str:
        return {
            ClientCredentials: "client_credentials",
            BearerToken: "bearer",
            httpx.BasicAuth: "basic",
        }.get(type(self._auth), "none")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirbyteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- jobs -----------------------------------------------------------------------------
    def create_sync_job(self, connection_id: str) -> Job:
        """One `POST /jobs`, never retried here: see `jobs.start_sync` for the safe retry."""
        body = self.request(
            "POST", "jobs", json={"connectionId": connection_id, "jobType": "sync"}, retry=False
        )
        return Job.from_api(body, connection_id=connection_id)

    def get_job(self, job_id: str, *, deadline: float | None = None) -> Job:
        return Job.from_api(self.request("GET", f"jobs/{job_id}", deadline=deadline))

    def cancel_job(self, job_id: str, *, deadline: float | None = None) -> Job | None:
        """`DELETE /jobs/{id}`: the job as the reply has it (None for an empty reply)."""
        body = self.request("DELETE", f"jobs/{job_id}", deadline=deadline)
        return Job.from_api(body) if body.get("jobId") not in (None, "") else None

    def sync_jobs(
        self,
        connection_id: str,
        *,
        status: str | None = None,
        page_size: int = 20,
        max_pages: int = MAX_PAGES,
        deadline: float | None = None,
    ) -> Iterator[Job]:
        """The connection's sync jobs (resets and clears left out by the server), newest
        first, page after page (the server's `next`) for as long as the caller reads, up to
        `max_pages` pages."""
        params: dict[str, Any] = {
            "connectionId": connection_id,
            "jobType": "sync",
            "orderBy": "createdAt|DESC",
            "limit": page_size,
        }
        if status:
            params["status"] = status
        for _ in range(max_pages):
            body = self.request("GET", "jobs", params=params, deadline=deadline)
            jobs = [Job.from_api(j, connection_id=connection_id) for j in body.get("data") or []]
            yield from jobs
            offset = _next_offset(body.get("next"))
            if not jobs or offset is None:
                return
            params["offset"] = offset  # our base URL: `next` holds the server's own host

    def workspace_connections(
        self, workspace_id: str, *, page_size: int = 100, deadline: float | None = None
    ) -> Iterator[Connection]:
        """Every connection of a workspace (deleted ones left out by the server), page after
        page, as long as pages come (a workspace of thousands is read whole)."""
        for item in self._listing("connections", workspace_id, page_size, deadline):
            yield Connection.from_api(item)

    def workspace_actor_names(
        self, kind: str, workspace_id: str, *, page_size: int = 100, deadline: float | None = None
    ) -> dict[str, str]:
        """The names of a workspace's sources (`kind` "source") or destinations, by id: one
        paged listing instead of a request per connection."""
        return {
            str(item.get(f"{kind}Id")): str(item.get("name") or "")
            for item in self._listing(f"{kind}s", workspace_id, page_size, deadline)
        }

    def actor_name(self, kind: str, actor_id: str, *, deadline: float | None = None) -> str:
        """The name of one source (`kind` "source") or destination."""
        return str(self.request("GET", f"{kind}s/{actor_id}", deadline=deadline).get("name") or "")

    def _listing(
        self, path: str, workspace_id: str, page_size: int, deadline: float | None
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"workspaceIds": workspace_id, "limit": page_size}
        while True:
            body = self.request("GET", path, params=params, deadline=deadline)
            page = [item for item in body.get("data") or [] if isinstance(item, dict)]
            yield from page
            offset = _next_offset(body.get("next"))
            if not page or offset is None:
                return
            params["offset"] = offset  # our base URL: `next` holds the server's own host

    def get_connection(self, connection_id: str, *, deadline: float | None = None) -> Connection:
        return Connection.from_api(
            self.request("GET", f"connections/{connection_id}", deadline=deadline)
        )

    # --- transport ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        retry: bool = True,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """One API call with retries of transient faults; raises AirbyteApiError otherwise.

        With `retry=False` a transient fault is raised at once (the caller decides whether a
        retry is safe, as for `POST /jobs`). With a `deadline` (time.monotonic()), transient
        faults are retried until then instead of `max_attempts` times, and the API going away
        and coming back is logged once each.
        """
        attempt = 0
        outage_started: float | None = None
        while True:
            attempt += 1
            try:
                response = self._send(method, path, json, params)
                if response.status_code == 429 or response.status_code >= 500:
                    raise AirbyteTransientError(
                        f"{method} {self.safe_url(path)}: HTTP {response.status_code} "
                        f"{problem_reason(response)}".strip(),
                        retry_after=_retry_after(response),
                    )
                if response.status_code >= 400:
                    raise AirbyteApiError(
                        self._describe(method, path, response),
                        status_code=response.status_code,
                        problem=problem_title(response),
                        reason=problem_reason(response),
                    )
                body = self._json(method, path, response)
            except AirbyteTransientError as fault:
                if not retry:
                    raise
                if deadline is not None and outage_started is None:
                    outage_started = time.monotonic()
                    get_logger().warning(
                        "Airbyte API unreachable (%s): retrying for up to %.0fs",
                        fault,
                        max(deadline - outage_started, 0.0),
                    )
                self.backoff_or_raise(attempt, fault, deadline=deadline)
                continue
            if outage_started is not None:
                get_logger().info(
                    "Airbyte API reachable again after %.0fs", time.monotonic() - outage_started
                )
            return body

    def _send(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        params: dict[str, Any] | None,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            if _unresolvable(exc):  # no such host: a typo, not an outage
                host = httpx.URL(self.server_url).host
                raise AirbyteApiError(
                    f"the Airbyte host {host!r} does not resolve ({_said(exc)}): check "
                    "AIRBYTE_SERVER_URL"
                ) from None
            raise AirbyteTransientError(
                self._transport_fault(method, path, exc), request_sent=False
            ) from None
        except httpx.TransportError as exc:  # connect/read errors and timeouts
            raise AirbyteTransientError(
                self._transport_fault(method, path, exc),
                request_sent=not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout),
            ) from None
        except TokenRequestFailed as exc:
            raise self._token_fault(exc) from None
        self._note_server_time(response)
        return response

    def _note_server_time(self, response: httpx.Response) -> None:
        """How far the server's clock (its `Date` header) is ahead of ours."""
        try:
            server = email.utils.parsedate_to_datetime(response.headers["date"])
        except (KeyError, TypeError, ValueError):
            return
        self._clock_offset = (server - datetime.now(UTC)).total_seconds()

    def server_now(self) -> datetime | None:
        """The server's time now, by the `Date` of its last reply (to the second); None
        before any reply."""
        if self._clock_offset is None:
            return None
        return datetime.now(UTC) + timedelta(seconds=self._clock_offset)

    def _token_fault(self, exc: TokenRequestFailed) -> Exception:
        """The token request failed: retry what may pass, name the credentials otherwise.
        No request was sent with a token, so the server cannot have acted on it."""
        url = self.safe_url("applications/token")
        code = exc.response.status_code if exc.response is not None else None
        error_id = _error_id(exc.response) if code == 500 else None
        if error_id is not None:
            # The Airbyte server itself answered (a proxy or a restart would not send its
            # errorId body): its applications backend throws on a wrong client secret and
            # answers 500 (ApiExceptionHandler). No outage to wait out: say what to check.
            return AirbyteApiError(
                f"Airbyte refused the client credentials at {url} (HTTP 500, errorId "
                f"{error_id} in the server's log): check AIRBYTE_CLIENT_ID and "
                "AIRBYTE_CLIENT_SECRET",
                status_code=code,
            )
        if code is None or code == 429 or code >= 500:
            reason = problem_reason(exc.response) if exc.response is not None else str(exc)
            return AirbyteTransientError(
                f"POST {url}: {reason or exc}",
                retry_after=_retry_after(exc.response) if exc.response is not None else None,
                request_sent=False,
            )
        return AirbyteApiError(
            f"Airbyte refused the client credentials (HTTP {code}) at {url}: check "
            "AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET",
            status_code=code,
        )

    def _transport_fault(self, method: str, path: str, exc: httpx.TransportError) -> str:
        url = httpx.URL(self.server_url)
        where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        if isinstance(exc, httpx.ConnectError):
            what = f"cannot connect to {where} ({_said(exc) or 'connection refused'})"
        elif isinstance(exc, httpx.TimeoutException):
            what = f"no answer from {where} in time ({type(exc).__name__})"
        else:
            what = f"connection to {where} broken ({type(exc).__name__}: {_said(exc)})"
        return f"{method} {self.safe_url(path)}: {what}"

    def _json(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        """The body as JSON; anything else (an HTML error page from a proxy, a truncated body)
        is a transient fault that says what came back."""
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        raise AirbyteTransientError(
            f"{method} {self.safe_url(path)}: HTTP {response.status_code} with a body that is "
            f"not a JSON object ({response.headers.get('content-type', 'no content type')}, "
            f"{len(response.content)} bytes: {response.content[:80]!r})"
        )

    def backoff_or_raise(
        self, attempt: int, fault: AirbyteTransientError, *, deadline: float | None = None
    ) -> None:
        """Sleep before retry `attempt + 1`, or raise once the attempts (or, with a deadline,
        the time) are used up."""
        growth = 2.0 ** min(attempt - 1, 32)  # deadline mode can make many attempts
        delay = min(self.retry.backoff_max, self.retry.backoff_initial * growth)
        delay = delay * (0.5 + random.random() / 2)  # jitter: concurrent syncs do not stampede
        if fault.retry_after is not None:  # the server knows best; cap absurd values
            delay = min(max(fault.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AirbyteTransientError(
                    f"{fault} (still failing after {attempt} attempts)",
                    request_sent=fault.request_sent,
                )
            delay = min(delay, remaining)
        elif attempt >= self.retry.max_attempts:
            raise AirbyteTransientError(
                f"{fault} (gave up after {attempt} attempts)", request_sent=fault.request_sent
            )
        self._sleep(delay)

    def safe_url(self, path: str = "") -> str:
        """The server URL (and path) with any credentials written into it removed."""
        return redact_url(self.server_url + ("/" + path if path else ""))

    def _describe(self, method: str, path: str, response: httpx.Response) -> str:
        code, detail = response.status_code, problem_reason(response)
        url = self.safe_url(path)
        if code in (401, 403):
            return (
                f"Airbyte rejected the credentials (HTTP {code}) at {url}: check "
                f"AIRBYTE_CLIENT_ID/AIRBYTE_CLIENT_SECRET, AIRBYTE_API_TOKEN or "
                f"AIRBYTE_USERNAME/AIRBYTE_PASSWORD ({self.auth_mode} auth in use)"
            )
        if code == 404:
            return f"Airbyte has no such resource (HTTP 404) for {method} {url}: {detail}".rstrip(
                ": "
            )
        return f"Airbyte refused {method} {url} (HTTP {code}): {detail}".rstrip(": ")


def problem_reason(response: httpx.Response) -> str:
    """The specific reason of an Airbyte problem document: the real server puts a generic
    `detail` ("Please try again later.") and the reason in `data.message`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return str(body)[:200]
    data = body.get("data")
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    if isinstance(data, dict) and data.get("resourceId"):  # ProblemResourceData (404s)
        what = f"{data.get('resourceType') or 'resource'} {data['resourceId']}"
        return f"{body.get('detail') or 'not found'} ({what})"
    for key in ("detail", "message", "title"):
        if body.get(key):
            return str(body[key])
    return ""


def problem_title(response: httpx.Response) -> str:
    """A problem document's `title` (its kind: "try-again-later", "state-conflict"...)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("title") or "") if isinstance(body, dict) else ""


def redact_url(url: str) -> str:
    """`http://user:secret@host/x` -> `http://***@host/x`: credentials never reach a message
    (nor do they when the scheme is missing)."""
    return _USERINFO.sub(r"\1***@", url, count=1)


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)?[^/@\s]+@")


def _error_id(response: httpx.Response | None) -> str | None:
    """The errorId of the Airbyte server's own error body (`{"errorId": "..."}`), if that is
    what came back."""
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return None
    return str(body["errorId"]) if isinstance(body, dict) and body.get("errorId") else None


def _unresolvable(exc: BaseException) -> bool:
    """The host name does not exist (not: the resolver is briefly unreachable)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return cause.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5))
        cause = cause.__cause__ or cause.__context__
    return False


def _said(exc: BaseException) -> str:
    """What a transport error says, if anything (httpx's are often empty)."""
    return first_line(exc, otherwise="")


def _next_offset(link: object) -> int | None:
    """The `offset` of a listing's `next` link (None: no next page)."""
    if not isinstance(link, str) or not link:
        return None
    values = parse_qs(urlsplit(link).query).get("offset")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
