"""A small client for the Airbyte public API (`/api/public/v1` self-managed, `/v1` Cloud).

It retries only transient faults (connect/read errors and timeouts, 429 honouring
`Retry-After`, 5xx, a 2xx whose body is not JSON) with capped exponential backoff: a fixed
number of attempts, or until a deadline (polling a running job rides out an outage for as long
as the job may run). Any other 4xx fails at once with a message that says what to fix, read
from the problem document (`data.message`, else `detail`, else `title`). Client-credential
tokens are refreshed before they expire and once on a 401. Secrets never appear in messages or
logs, including credentials written into the server URL.
"""

from __future__ import annotations

import base64
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from orchestration.airbyte.errors import AirbyteApiError, AirbyteTransientError
from orchestration.logs import get_logger

AuthMode = Literal["client_credentials", "bearer", "basic", "none"]
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
# JobStatusEnum of Airbyte's public API. `incomplete` is a failed attempt that will be retried.
ACTIVE_STATUSES = frozenset({"pending", "queued", "running", "incomplete"})
MAX_RETRY_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class AirbyteApiConfig:
    server_url: str
    client_id: str = ""
    client_secret: SecretStr = field(default_factory=lambda: SecretStr(""))
    api_token: SecretStr = field(default_factory=lambda: SecretStr(""))
    username: str = ""
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    request_timeout: float = 30.0
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        for name in ("client_secret", "api_token", "password"):  # accept plain strings too
            value = getattr(self, name)
            if not isinstance(value, SecretStr):
                object.__setattr__(self, name, SecretStr(str(value or "")))

    @property
    def auth_mode(self) -> AuthMode:
        if self.client_id or self.client_secret.get_secret_value():
            return "client_credentials"
        if self.api_token.get_secret_value():
            return "bearer"
        if self.username:
            return "basic"
        return "none"


class AirbyteClient:
    """Thread-safe: one client can serve many concurrent syncs."""

    def __init__(
        self,
        config: AirbyteApiConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=config.server_url.rstrip("/") + "/",
            timeout=config.request_timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "elt-orchestration"},
        )
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirbyteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- jobs -----------------------------------------------------------------------------
    def create_sync_job(self, connection_id: str) -> dict[str, Any]:
        """One `POST /jobs`, never retried here: see `jobs.start_sync` for the safe retry."""
        return self.request(
            "POST", "jobs", json={"connectionId": connection_id, "jobType": "sync"}, retry=False
        )

    def get_job(self, job_id: int | str, *, deadline: float | None = None) -> dict[str, Any]:
        return self.request("GET", f"jobs/{job_id}", deadline=deadline)

    def cancel_job(self, job_id: int | str, *, deadline: float | None = None) -> dict[str, Any]:
        return self.request("DELETE", f"jobs/{job_id}", deadline=deadline)

    def list_sync_jobs(
        self,
        connection_id: str,
        *,
        status: str | None = None,
        created_since: str | None = None,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """Sync jobs of a connection, newest first (optionally by status / creation time)."""
        params: dict[str, Any] = {
            "connectionId": connection_id,
            "jobType": "sync",
            "orderBy": "createdAt|DESC",
            "limit": 20,
        }
        if status:
            params["status"] = status
        if created_since:
            params["createdAtStart"] = created_since
        return list(self.request("GET", "jobs", params=params, deadline=deadline).get("data", []))

    # --- transport ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        retry: bool = True,
        authenticate: bool = True,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """One API call with retries of transient faults; raises AirbyteApiError otherwise.

        With `retry=False` a transient fault is raised at once (the caller decides whether a
        retry is safe, as for `POST /jobs`). With a `deadline` (time.monotonic()), transient
        faults are retried until then instead of `max_attempts` times, and the API going away
        and coming back is logged once each. `authenticate=False` sends no credentials (the
        token request itself).
        """
        attempt = 0
        refreshed_after_401 = not authenticate
        outage_started: float | None = None
        while True:
            attempt += 1
            try:
                response = self._send(method, path, json, params, authenticate)
                if response.status_code == 401 and not refreshed_after_401 and self._refreshable():
                    refreshed_after_401 = True
                    self._invalidate_token()
                    continue
                if response.status_code == 429 or response.status_code >= 500:
                    raise AirbyteTransientError(
                        f"{method} {self.safe_url(path)}: HTTP {response.status_code} "
                        f"{problem_reason(response)}".strip(),
                        retry_after=_retry_after(response),
                    )
                if response.status_code >= 400:
                    raise AirbyteApiError(
                        self._describe(method, path, response), status_code=response.status_code
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
        authenticate: bool,
    ) -> httpx.Response:
        headers = self._auth_headers() if authenticate else {}
        try:
            return self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:  # connect/read errors and timeouts
            raise AirbyteTransientError(
                self._transport_fault(method, path, exc),
                request_sent=not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout),
            ) from None

    def _transport_fault(self, method: str, path: str, exc: httpx.TransportError) -> str:
        url = httpx.URL(self.config.server_url)
        where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        if isinstance(exc, httpx.ConnectError):
            what = f"cannot connect to {where} ({_first_line(exc) or 'connection refused'})"
        elif isinstance(exc, httpx.TimeoutException):
            what = f"no answer from {where} in time ({type(exc).__name__})"
        else:
            what = f"connection to {where} broken ({type(exc).__name__}: {_first_line(exc)})"
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
        delay = min(self.config.backoff_max, self.config.backoff_initial * growth)
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
        elif attempt >= self.config.max_attempts:
            raise AirbyteTransientError(
                f"{fault} (gave up after {attempt} attempts)", request_sent=fault.request_sent
            )
        self._sleep(delay)

    def safe_url(self, path: str = "") -> str:
        """The server URL (and path) with any credentials written into it removed."""
        return redact_url(self.config.server_url.rstrip("/") + ("/" + path if path else ""))

    def _describe(self, method: str, path: str, response: httpx.Response) -> str:
        code, detail = response.status_code, problem_reason(response)
        url = self.safe_url(path)
        if code in (401, 403):
            return (
                f"Airbyte rejected the credentials (HTTP {code}) at {url}: check "
                f"AIRBYTE_CLIENT_ID/AIRBYTE_CLIENT_SECRET, AIRBYTE_API_TOKEN or "
                f"AIRBYTE_USERNAME/AIRBYTE_PASSWORD ({self.config.auth_mode} auth in use)"
            )
        if code == 404:
            return f"Airbyte has no such resource (HTTP 404) for {method} {url}: {detail}".rstrip(
                ": "
            )
        return f"Airbyte refused {method} {url} (HTTP {code}): {detail}".rstrip(": ")

    # --- auth -----------------------------------------------------------------------------
    def _refreshable(self) -> bool:
        return self.config.auth_mode == "client_credentials"

    def _invalidate_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _auth_headers(self) -> dict[str, str]:
        mode = self.config.auth_mode
        if mode == "bearer":
            return {"Authorization": f"Bearer {self.config.api_token.get_secret_value()}"}
        if mode == "basic":
            raw = f"{self.config.username}:{self.config.password.get_secret_value()}"
            return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
        if mode == "client_credentials":
            return {"Authorization": f"Bearer {self._access_token()}"}
        return {}

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires_at:
                self._token, lifetime = self._fetch_token()
                # Refresh ahead of expiry: a token must outlive the request it is sent with.
                margin = min(60.0, lifetime * 0.2)
                self._token_expires_at = time.monotonic() + max(lifetime - margin, 0.0)
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        body = {
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret.get_secret_value(),
            "grant-type": "client_credentials",
        }
        try:
            payload = self.request("POST", "applications/token", json=body, authenticate=False)
        except AirbyteApiError as exc:
            raise AirbyteApiError(
                f"Airbyte refused the client credentials (HTTP {exc.status_code}) at "
                f"{self.safe_url('applications/token')}: check "
                "AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET",
                status_code=exc.status_code,
            ) from None
        if not payload.get("access_token"):
            raise AirbyteTransientError(
                f"POST {self.safe_url('applications/token')}: the reply has no access_token"
            )
        return str(payload["access_token"]), float(payload.get("expires_in") or 180)


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


def redact_url(url: str) -> str:
    """`http://user:secret@host/x` -> `http://***@host/x`: credentials never reach a message
    (nor do they when the scheme is missing)."""
    return _USERINFO.sub(r"\1***@", url, count=1)


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)?[^/@\s]+@")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
