"""Authentication to the Airbyte API as `httpx.Auth` objects, kept out of the retry loop.

Airbyte accepts, depending on the deployment: application client credentials exchanged for a
short-lived bearer token (`POST /applications/token`, Cloud and self-managed 1.x), a static
bearer token, or HTTP basic auth (older self-managed servers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import httpx

__all__ = ["BearerToken", "ClientCredentials", "TokenRequestFailed"]

# Cloud tokens live 3 minutes; a reply without `expires_in` is assumed to live as long.
DEFAULT_TOKEN_LIFETIME_SECONDS = 180.0


class BearerToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class TokenRequestFailed(Exception):
    """The token endpoint did not give a token; `response` is its reply (None: no body)."""

    def __init__(self, response: httpx.Response | None, reason: str) -> None:
        super().__init__(reason)
        self.response = response


class ClientCredentials(httpx.Auth):
    """Client credentials: a token fetched before the first request, refreshed ahead of its
    expiry (a token must outlive the request it is sent with), and once more on a 401.

    Thread-safe: concurrent syncs share one token and only one of them refreshes it. (For
    the synchronous client: the lock is a thread lock.)
    """

    requires_response_body = True

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self.token_url = token_url
        self._body = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant-type": "client_credentials",  # sic: Airbyte's TokenRequestBody spelling
        }
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                yield from self._refresh()
            token = self._token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        with self._lock:
            if self._token == token:  # nobody refreshed it meanwhile
                yield from self._refresh()
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def _refresh(self) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield httpx.Request(
            "POST", self.token_url, json=self._body, headers={"Accept": "application/json"}
        )
        if response.status_code != 200:
            raise TokenRequestFailed(response, f"HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            raise TokenRequestFailed(None, "the reply has no access_token")
        lifetime = float(payload.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
        margin = min(60.0, lifetime * 0.2)
        self._token = str(token)
        self._expires_at = time.monotonic() + max(lifetime - margin, 0.0)
