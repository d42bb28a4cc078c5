"""Snowflake: prefect-snowflake's `SnowflakeConnector` as it is (credentials: password or key
pair), plus the endpoint fields a private link or an emulator needs. It connects the freshness
check (`get_connection()`) and gives dbt's profile its values as environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from prefect_snowflake import SnowflakeConnector, SnowflakeCredentials
from pydantic import Field

from orchestration.config.sources import EnvMap
from orchestration.errors import ConfigError

__all__ = ["SnowflakeConnection"]

CREDENTIAL_FIELDS = (
    "account",
    "user",
    "password",
    "private_key_path",
    "private_key_passphrase",
    "role",
)


class SnowflakeConnection(SnowflakeConnector):
    """prefect-snowflake's connector (credentials: password or key pair) plus endpoint fields."""

    _block_type_name = "ELT Snowflake Connection"
    _description = "Snowflake warehouse for Snowflake dbt targets and the freshness check."

    host: str = Field(default="", description="Only for private endpoints or an emulator.")
    port: int = Field(default=443, ge=1, le=65535)
    protocol: Literal["https", "http"] = Field(default="https")

    env: ClassVar[EnvMap]

    def get_connection(self, **connect_kwargs: Any) -> Any:
        """prefect-snowflake's connection, with the endpoint fields when they are set."""
        endpoint: dict[str, Any] = {"port": self.port, "protocol": self.protocol}
        if self.host:
            endpoint["host"] = self.host
        return super().get_connection(**{**endpoint, **connect_kwargs})

    @classmethod
    def missing(cls, values: Mapping[str, Any]) -> list[str]:
        """The variables a connection cannot work without that `values` (read from the
        environment by `env`) leaves empty."""
        creds = values.get("credentials") or {}
        missing = [f"SNOWFLAKE_{k.upper()}" for k in ("account", "user") if not creds.get(k)]
        missing += [
            f"SNOWFLAKE_{k.upper()}"
            for k in ("database", "schema", "warehouse")
            if not values.get(k)
        ]
        if not (creds.get("password") or creds.get("private_key_path")):
            missing.append("SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH")
        return missing

    def dbt_env(self) -> dict[str, str]:
        """The variables the Snowflake outputs of `profiles.yml` read through `env_var()`.

        dbt reads them from the process environment, so no secret is written to a file."""
        creds: SnowflakeCredentials = self.credentials
        if creds.private_key is not None:
            raise ConfigError(
                "the Snowflake block has an inline private_key, which dbt could only read from a "
                "file: set private_key_path to the key file instead"
            )

        def secret(value: Any) -> str:
            return value.get_secret_value() if value is not None else ""

        return {
            "SNOWFLAKE_ACCOUNT": creds.account,
            "SNOWFLAKE_USER": creds.user or "",
            "SNOWFLAKE_PASSWORD": secret(creds.password),
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(creds.private_key_path or ""),
            "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": secret(creds.private_key_passphrase),
            "SNOWFLAKE_ROLE": creds.role or "",
            "SNOWFLAKE_DATABASE": self.database,
            "SNOWFLAKE_SCHEMA": self.schema_,
            "SNOWFLAKE_WAREHOUSE": self.warehouse,
            "SNOWFLAKE_HOST": self.host,
            "SNOWFLAKE_PORT": str(self.port),
            "SNOWFLAKE_PROTOCOL": self.protocol,
        }


SnowflakeConnection.env = EnvMap(
    SnowflakeConnection,
    {
        "credentials": EnvMap(
            SnowflakeCredentials, {f: f"SNOWFLAKE_{f.upper()}" for f in CREDENTIAL_FIELDS}
        ),
        **{f: f"SNOWFLAKE_{f.upper()}" for f in ("database", "schema", "warehouse")},
        **{f: f"SNOWFLAKE_{f.upper()}" for f in ("host", "port", "protocol")},
    },
)
