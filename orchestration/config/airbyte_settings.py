"""Airbyte: the server and connections to sync, how to authenticate, how to poll, and what
the syncs write. One block, read from the environment (AIRBYTE_<FIELD>) or saved on Prefect."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import httpx
from prefect.blocks.core import Block
from pydantic import Field, SecretStr, ValidationInfo, field_validator

from orchestration.airbyte.auth import BearerToken, ClientCredentials
from orchestration.airbyte.client import AirbyteClient, RetryPolicy, redact_url
from orchestration.config.sources import EnvMap

__all__ = ["AirbyteConnection"]


def split_list(value: object) -> object:
    """`"a, b"` -> `["a", "b"]`: lists are comma-separated in variables and flags."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class AirbyteConnection(Block):
    """An Airbyte server (Cloud or self-managed) and the connections to sync.

    An empty `server_url` means the embedded PyAirbyte source-faker (no server needed).
    Auth is the first of: client credentials, bearer token, basic auth; none if all are empty.
    """

    _block_type_name = "ELT Airbyte Connection"
    _description = "Airbyte API server, connection id(s), auth and polling for airbyte_sync."

    server_url: str = Field(
        default="",
        description="e.g. https://api.airbyte.com/v1; empty = embedded PyAirbyte source-faker.",
    )
    connection_ids: list[str] = Field(default_factory=list, description="Connections to sync.")
    workspace_id: str = Field(
        default="",
        description="Without connection ids: sync every active connection of this workspace.",
    )
    connection_names: list[str] = Field(
        default_factory=list,
        description="Workspace mode: only connections whose name matches one of these globs.",
    )
    client_id: str = Field(default="", description="Client credentials: application client id.")
    client_secret: SecretStr = Field(
        default=SecretStr(""), validate_default=True, description="Client credentials."
    )
    api_token: SecretStr = Field(default=SecretStr(""), description="Static bearer token.")
    username: str = Field(default="", description="Basic auth (older OSS servers).")
    password: SecretStr = Field(default=SecretStr(""), description="Basic auth password.")
    poll_interval_seconds: float = Field(default=10, gt=0, allow_inf_nan=False)
    timeout_seconds: float = Field(default=3600, gt=0, allow_inf_nan=False)
    max_concurrent_syncs: int = Field(default=4, ge=1)
    raw_schema: str = Field(default="raw", min_length=1, description="Schema the syncs write.")
    streams: list[str] = Field(
        default_factory=lambda: ["users", "products", "purchases"],
        description="Raw tables the syncs write (checked for freshness).",
    )

    env: ClassVar[EnvMap]

    _split = field_validator("connection_ids", "connection_names", "streams", mode="before")(
        split_list
    )

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{redact_url(value)!r} is not an http(s) URL: use e.g. "
                "http://localhost:8000/api/public/v1 (self-managed) or "
                "https://api.airbyte.com/v1 (Cloud)"
            )
        if value and httpx.URL(value).userinfo:
            # a URL is shown and saved in clear (logs, `elt blocks register`, the block's
            # document and its events): credentials belong in the secret fields
            raise ValueError(
                f"{redact_url(value)!r} holds credentials (user:password@): remove them from "
                "the URL and set AIRBYTE_USERNAME and AIRBYTE_PASSWORD instead"
            )
        return value

    @field_validator("client_secret")
    @classmethod
    def _secret_with_id(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("client_id") and not value.get_secret_value():
            raise ValueError("missing: AIRBYTE_CLIENT_ID is set, so set AIRBYTE_CLIENT_SECRET too")
        return value

    @property
    def embedded(self) -> bool:
        return not self.server_url

    @property
    def auth_mode(self) -> str:
        if self.client_id or self.client_secret.get_secret_value():
            return "client_credentials"
        if self.api_token.get_secret_value():
            return "bearer"
        if self.username:
            return "basic"
        return "none"

    def auth(self) -> httpx.Auth | None:
        mode = self.auth_mode
        if mode == "client_credentials":
            return ClientCredentials(
                f"{self.server_url.rstrip('/')}/applications/token",
                self.client_id,
                self.client_secret.get_secret_value(),
            )
        if mode == "bearer":
            return BearerToken(self.api_token.get_secret_value())
        if mode == "basic":
            return httpx.BasicAuth(self.username, self.password.get_secret_value())
        return None

    def client(
        self,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> AirbyteClient:
        """An API client for this server, authenticated as configured."""
        return AirbyteClient(
            self.server_url, self.auth(), retry=retry, sleep=sleep, transport=transport
        )


AirbyteConnection.env = EnvMap.derived(
    AirbyteConnection,
    "AIRBYTE_",
    renames={
        "connection_ids": ("AIRBYTE_CONNECTION_ID", "AIRBYTE_CONNECTION_IDS"),
        "connection_names": ("AIRBYTE_CONNECTIONS",),
    },
)
