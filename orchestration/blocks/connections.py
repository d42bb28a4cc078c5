"""The blocks: Airbyte, Snowflake, dbt and S3 configuration stored on the Prefect server.

Snowflake and S3 are prefect-snowflake's and prefect-aws's own blocks (`SnowflakeConnection`
extends `SnowflakeConnector` only with the endpoint fields a private link or an emulator needs).
Block type names carry an `ELT` prefix so they never collide with the integrations' catalogue
(prefect-airbyte already owns `airbyte-connection`).

Run as a script to register them from the environment and `.env`:
    python -m orchestration.blocks.connections [--name production]
"""

from __future__ import annotations

if __name__ == "__main__":  # before the classes: run as a script, define them only once
    from orchestration.blocks.register import main

    raise SystemExit(main())

from typing import Literal

from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
from prefect_snowflake import SnowflakeConnector, SnowflakeCredentials
from pydantic import Field, SecretStr

from orchestration.airbyte.client import AirbyteApiConfig, AuthMode


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
    client_id: str = Field(default="", description="Client credentials: application client id.")
    client_secret: SecretStr = Field(default=SecretStr(""), description="Client credentials.")
    api_token: SecretStr = Field(default=SecretStr(""), description="Static bearer token.")
    username: str = Field(default="", description="Basic auth (older OSS servers).")
    password: SecretStr = Field(default=SecretStr(""), description="Basic auth password.")
    poll_interval_seconds: float = Field(default=10, gt=0)
    timeout_seconds: float = Field(default=3600, gt=0)
    max_concurrent_syncs: int = Field(default=4, ge=1)

    @property
    def auth(self) -> AuthMode:
        return AirbyteApiConfig(
            server_url=self.server_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            api_token=self.api_token,
            username=self.username,
            password=self.password,
        ).auth_mode


class SnowflakeConnection(SnowflakeConnector):
    """prefect-snowflake's connector (credentials: password or key pair) plus endpoint fields."""

    _block_type_name = "ELT Snowflake Connection"
    _description = "Snowflake warehouse for the dev/prod dbt targets and the freshness check."

    host: str = Field(default="", description="Only for private endpoints or an emulator.")
    port: int = Field(default=443)
    protocol: Literal["https", "http"] = Field(default="https")


class DbtConfig(Block):
    """Where the dbt project is and how dbt_transform runs it by default."""

    _block_type_name = "ELT dbt Config"
    _description = "dbt project and profiles folders, target, threads and default selection."

    project_dir: str = Field(default="./dbt_project", description="Relative to the work dir.")
    profiles_dir: str = Field(default="", description="Empty = the project folder.")
    target: Literal["local", "dev", "prod"] = Field(default="local")
    threads: int = Field(default=4, ge=1)
    select: list[str] = Field(default_factory=list, description="Default --select.")
    exclude: list[str] = Field(default_factory=list, description="Default --exclude.")


BLOCK_CLASSES: tuple[type[Block], ...] = (
    AirbyteConnection,
    SnowflakeCredentials,
    SnowflakeConnection,
    DbtConfig,
    AwsCredentials,
    S3Bucket,
)

__all__ = [
    "BLOCK_CLASSES",
    "AirbyteConnection",
    "AwsCredentials",
    "DbtConfig",
    "S3Bucket",
    "SnowflakeConnection",
    "SnowflakeCredentials",
]
