"""The one place that reads the environment: every setting, typed, with its default.

Settings come from environment variables and an optional `.env` file in the working
directory (environment variables win). Secrets are `SecretStr` so they never print.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestration.errors import ConfigError

if TYPE_CHECKING:
    from orchestration.airbyte.client import AirbyteApiConfig

SNOWFLAKE_TARGETS = ("dev", "prod")
REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Blocks (`elt blocks register --name NAME`) to take the configuration from instead.
    elt_block: str = Field(default="", alias="ELT_BLOCK")

    # --- Airbyte ---
    airbyte_server_url: str = Field(default="", alias="AIRBYTE_SERVER_URL")
    airbyte_connection_id: str = Field(default="", alias="AIRBYTE_CONNECTION_ID")
    airbyte_client_id: str = Field(default="", alias="AIRBYTE_CLIENT_ID")
    airbyte_client_secret: SecretStr = Field(default=SecretStr(""), alias="AIRBYTE_CLIENT_SECRET")
    airbyte_api_token: SecretStr = Field(default=SecretStr(""), alias="AIRBYTE_API_TOKEN")
    airbyte_username: str = Field(default="", alias="AIRBYTE_USERNAME")
    airbyte_password: SecretStr = Field(default=SecretStr(""), alias="AIRBYTE_PASSWORD")
    airbyte_poll_interval_seconds: float = Field(
        default=10, gt=0, alias="AIRBYTE_POLL_INTERVAL_SECONDS"
    )
    airbyte_timeout_seconds: float = Field(default=3600, gt=0, alias="AIRBYTE_TIMEOUT_SECONDS")
    airbyte_max_concurrent_syncs: int = Field(default=4, ge=1, alias="AIRBYTE_MAX_CONCURRENT_SYNCS")
    airbyte_raw_schema: str = Field(default="raw", alias="AIRBYTE_RAW_SCHEMA")
    airbyte_streams: str = Field(default="users,products,purchases", alias="AIRBYTE_STREAMS")

    # --- Embedded Airbyte (PyAirbyte + source-faker), used when AIRBYTE_SERVER_URL is empty ---
    faker_count: int = Field(default=1000, ge=1, alias="FAKER_COUNT")
    faker_seed: int | None = Field(default=None, alias="FAKER_SEED")
    elt_home: Path = Field(default=Path(".elt"), alias="ELT_HOME")
    embedded_project_dir: Path = Field(
        default=REPO_ROOT / "embedded", alias="EMBEDDED_AIRBYTE_PROJECT_DIR"
    )

    # --- dbt ---
    dbt_project_dir: Path = Field(default=Path("./dbt_project"), alias="DBT_PROJECT_DIR")
    dbt_profiles_dir: Path | None = Field(default=None, alias="DBT_PROFILES_DIR")
    dbt_target: Literal["local", "dev", "prod"] = Field(default="local", alias="DBT_TARGET")
    dbt_threads: int = Field(default=4, ge=1, alias="DBT_THREADS")
    # Default selection when a run names none (dbt syntax, space-separated).
    dbt_select: str = Field(default="", alias="DBT_SELECT")
    dbt_exclude: str = Field(default="", alias="DBT_EXCLUDE")
    duckdb_path: Path = Field(default=Path(".elt/warehouse.duckdb"), alias="DUCKDB_PATH")

    # --- S3 landing zone ---
    s3_bucket: str = Field(default="my-data-lake-landing", alias="S3_BUCKET")
    s3_prefix: str = Field(default="inbound/", alias="S3_PREFIX")
    s3_poll_interval_seconds: float = Field(default=30, gt=0, alias="S3_POLL_INTERVAL_SECONDS")
    s3_sensor_deployment: str = Field(default="", alias="S3_SENSOR_DEPLOYMENT")
    # `any`: every poll lists the whole prefix. `arrival-day`: keys sit under the day they
    # arrive (yyyy/mm/dd/...): polls list recent partitions, full listings run periodically.
    s3_key_layout: Literal["any", "arrival-day"] = Field(default="any", alias="S3_KEY_LAYOUT")
    s3_lookback_partitions: int = Field(default=1, ge=0, alias="S3_LOOKBACK_PARTITIONS")
    s3_full_scan_every_seconds: float = Field(
        default=3600, gt=0, alias="S3_FULL_SCAN_EVERY_SECONDS"
    )
    # SQS queue receiving the bucket's s3:ObjectCreated:* notifications: event mode.
    s3_events_queue_url: str = Field(default="", alias="S3_EVENTS_QUEUE_URL")
    # How long after its LastModified an object may first become visible and still be found.
    s3_sensor_lookback_seconds: float = Field(
        default=3600, gt=0, alias="S3_SENSOR_LOOKBACK_SECONDS"
    )
    # A sensor that stops renewing its lease (it died) frees its bucket/prefix after this.
    s3_sensor_lease_seconds: float = Field(default=60, ge=1, alias="S3_SENSOR_LEASE_SECONDS")
    # Empty AWS values leave boto3's own chain (env, profile, instance role) in charge.
    aws_access_key_id: str = Field(default="", alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: SecretStr = Field(default=SecretStr(""), alias="AWS_SECRET_ACCESS_KEY")
    aws_session_token: SecretStr = Field(default=SecretStr(""), alias="AWS_SESSION_TOKEN")
    aws_region: str = Field(
        default="", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region")
    )
    aws_endpoint_url: str = Field(default="", alias="AWS_ENDPOINT_URL")

    # --- Freshness SLA ---
    freshness_threshold_hours: float = Field(default=25, gt=0, alias="FRESHNESS_THRESHOLD_HOURS")

    # --- Snowflake (targets dev and prod) ---
    snowflake_account: str = Field(default="", alias="SNOWFLAKE_ACCOUNT")
    snowflake_user: str = Field(default="", alias="SNOWFLAKE_USER")
    snowflake_password: SecretStr = Field(default=SecretStr(""), alias="SNOWFLAKE_PASSWORD")
    snowflake_private_key_path: str = Field(default="", alias="SNOWFLAKE_PRIVATE_KEY_PATH")
    snowflake_private_key_passphrase: SecretStr = Field(
        default=SecretStr(""), alias="SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"
    )
    snowflake_database: str = Field(default="", alias="SNOWFLAKE_DATABASE")
    snowflake_schema: str = Field(default="", alias="SNOWFLAKE_SCHEMA")
    snowflake_warehouse: str = Field(default="", alias="SNOWFLAKE_WAREHOUSE")
    snowflake_role: str = Field(default="", alias="SNOWFLAKE_ROLE")
    # Only for private endpoints or a local Snowflake emulator; empty means the account URL.
    snowflake_host: str = Field(default="", alias="SNOWFLAKE_HOST")
    snowflake_port: int = Field(default=443, alias="SNOWFLAKE_PORT")
    snowflake_protocol: Literal["https", "http"] = Field(
        default="https", alias="SNOWFLAKE_PROTOCOL"
    )

    @field_validator("faker_seed", mode="before")
    @classmethod
    def _empty_seed_is_none(cls, value: object) -> object:
        return None if value == "" else value

    # --- derived ---
    @property
    def embedded_airbyte(self) -> bool:
        return not self.airbyte_server_url.strip()

    @property
    def uses_snowflake(self) -> bool:
        return self.dbt_target in SNOWFLAKE_TARGETS

    @property
    def streams(self) -> list[str]:
        return [s.strip() for s in self.airbyte_streams.split(",") if s.strip()]

    @property
    def connection_ids(self) -> list[str]:
        return [c.strip() for c in self.airbyte_connection_id.split(",") if c.strip()]

    @property
    def default_select(self) -> list[str]:
        return self.dbt_select.split()

    @property
    def default_exclude(self) -> list[str]:
        return self.dbt_exclude.split()

    @cached_property
    def resolved_profiles_dir(self) -> Path:
        return (self.dbt_profiles_dir or self.dbt_project_dir).resolve()

    def require_airbyte(self, connection_ids: list[str] | None = None) -> None:
        """Fail before any work when the Airbyte API settings cannot work."""
        if self.embedded_airbyte:
            self.require_embedded_project()
            return
        self.airbyte_api_config()
        if not (connection_ids or self.connection_ids):
            raise ConfigError(
                "AIRBYTE_SERVER_URL is set but no connection is: set AIRBYTE_CONNECTION_ID "
                "(one id or a comma-separated list) or pass --connection"
            )

    def require_embedded_project(self) -> Path:
        project_dir = self.embedded_project_dir.resolve()
        if not (project_dir / "pyproject.toml").exists():
            raise ConfigError(
                f"no embedded Airbyte here (EMBEDDED_AIRBYTE_PROJECT_DIR={project_dir} holds no "
                "pyproject.toml): set AIRBYTE_SERVER_URL to sync through an Airbyte server, or "
                "point EMBEDDED_AIRBYTE_PROJECT_DIR at the repository's embedded/ folder "
                "(images: build with --build-arg EMBEDDED=true)"
            )
        return project_dir

    def airbyte_api_config(self) -> AirbyteApiConfig:
        from orchestration.airbyte.client import AirbyteApiConfig, redact_url

        url = self.airbyte_server_url.strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"AIRBYTE_SERVER_URL={redact_url(url)!r} is not an http(s) URL: use e.g. "
                "http://localhost:8000/api/public/v1 (self-managed) or "
                "https://api.airbyte.com/v1 (Cloud)"
            )
        if self.airbyte_client_id and not self.airbyte_client_secret.get_secret_value():
            raise ConfigError("AIRBYTE_CLIENT_ID is set without AIRBYTE_CLIENT_SECRET: set both")
        return AirbyteApiConfig(
            server_url=url,
            client_id=self.airbyte_client_id,
            client_secret=self.airbyte_client_secret,
            api_token=self.airbyte_api_token,
            username=self.airbyte_username,
            password=self.airbyte_password,
        )

    def missing_snowflake_settings(self) -> list[str]:
        """Names of the Snowflake variables a Snowflake target needs but that are empty."""
        required = {
            "SNOWFLAKE_ACCOUNT": self.snowflake_account,
            "SNOWFLAKE_USER": self.snowflake_user,
            "SNOWFLAKE_DATABASE": self.snowflake_database,
            "SNOWFLAKE_SCHEMA": self.snowflake_schema,
            "SNOWFLAKE_WAREHOUSE": self.snowflake_warehouse,
        }
        missing = [name for name, value in required.items() if not value.strip()]
        if not (
            self.snowflake_password.get_secret_value() or self.snowflake_private_key_path.strip()
        ):
            missing.append("SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH")
        return missing

    def require_warehouse(self) -> None:
        """Fail before any work when the selected target cannot connect."""
        if not self.uses_snowflake:
            return
        missing = self.missing_snowflake_settings()
        if missing:
            raise ConfigError(
                f"DBT_TARGET={self.dbt_target} needs Snowflake settings; missing: "
                f"{', '.join(missing)}. Set them in the environment or .env "
                "(see .env.example), or use DBT_TARGET=local for DuckDB."
            )

    def dbt_env(self) -> dict[str, str]:
        """Variables the dbt profile and project read through `env_var()`.

        dbt reads them from the process environment; exporting them from here keeps `.env`
        values working and keeps secrets out of any file on disk.
        """
        env = {
            "DUCKDB_PATH": str(self.duckdb_path.resolve()),
            "AIRBYTE_RAW_SCHEMA": self.airbyte_raw_schema,
            "FRESHNESS_THRESHOLD_HOURS": f"{self.freshness_threshold_hours:g}",
            "DBT_THREADS": str(self.dbt_threads),
        }
        if self.uses_snowflake:
            env.update(
                {
                    "SNOWFLAKE_ACCOUNT": self.snowflake_account,
                    "SNOWFLAKE_USER": self.snowflake_user,
                    "SNOWFLAKE_DATABASE": self.snowflake_database,
                    "SNOWFLAKE_SCHEMA": self.snowflake_schema,
                    "SNOWFLAKE_WAREHOUSE": self.snowflake_warehouse,
                    "SNOWFLAKE_ROLE": self.snowflake_role,
                    "SNOWFLAKE_HOST": self.snowflake_host,
                    "SNOWFLAKE_PORT": str(self.snowflake_port),
                    "SNOWFLAKE_PROTOCOL": self.snowflake_protocol,
                    "SNOWFLAKE_PRIVATE_KEY_PATH": self.snowflake_private_key_path,
                    "SNOWFLAKE_PASSWORD": self.snowflake_password.get_secret_value(),
                    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": (
                        self.snowflake_private_key_passphrase.get_secret_value()
                    ),
                }
            )
        return env

    def snowflake_connect_args(self) -> dict[str, object]:
        """Keyword arguments for `snowflake.connector.connect` (password or key-pair)."""
        args: dict[str, object] = {
            "account": self.snowflake_account,
            "user": self.snowflake_user,
            "database": self.snowflake_database,
            "schema": self.snowflake_schema,
            "warehouse": self.snowflake_warehouse,
            "port": self.snowflake_port,
            "protocol": self.snowflake_protocol,
        }
        if self.snowflake_role:
            args["role"] = self.snowflake_role
        if self.snowflake_host:
            args["host"] = self.snowflake_host
        if self.snowflake_private_key_path:
            args["private_key_file"] = self.snowflake_private_key_path
            passphrase = self.snowflake_private_key_passphrase.get_secret_value()
            if passphrase:
                args["private_key_file_pwd"] = passphrase
        else:
            args["password"] = self.snowflake_password.get_secret_value()
        return args


def get_settings(block_name: str | None = None, **overrides: object) -> Settings:
    """Settings from the environment and `.env`, with explicit overrides (flow parameters).

    With `block_name` (or ELT_BLOCK), the blocks saved under that name supply the Airbyte,
    dbt, S3 and Snowflake values instead of the environment; explicit overrides still win.
    """
    explicit = {k: v for k, v in overrides.items() if v is not None}
    if not block_name:
        settings = _build(explicit)
        block_name = settings.elt_block.strip()
        if not block_name:
            return settings
    from orchestration.blocks.mapping import settings_from_blocks

    return _build({**settings_from_blocks(block_name), **explicit})


def _build(values: dict[str, object]) -> Settings:
    try:
        return Settings(**values)
    except Exception as exc:  # pydantic.ValidationError: make it one line naming the variable
        raise ConfigError(_describe_validation_error(exc)) from None


def _describe_validation_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"invalid settings: {exc}"
    parts = []
    for err in errors():
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        secret = any(word in name.upper() for word in ("PASSWORD", "PASSPHRASE", "SECRET", "TOKEN"))
        got = "" if secret else f" (got {err.get('input')!r})"
        parts.append(f"{name}: {err.get('msg')}{got}")
    return "invalid settings: " + "; ".join(parts) + ". Fix them in the environment or .env."
