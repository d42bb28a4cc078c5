"""Blocks <-> settings: blocks are filled from settings, and loaded back as settings overrides.

Flows and commands always run on `Settings`; a block name only changes where the values come
from. That keeps one code path for both worlds and for env-configured and block-configured runs.
"""

from __future__ import annotations

from typing import Any

from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.s3 import S3Bucket
from prefect_snowflake import SnowflakeCredentials
from pydantic import SecretStr

from orchestration.blocks.connections import AirbyteConnection, DbtConfig, SnowflakeConnection
from orchestration.errors import ConfigError
from orchestration.settings import SNOWFLAKE_TARGETS, Settings

REGISTER_HINT = "elt blocks register --name {name}"


def _secret(value: SecretStr | None) -> SecretStr:
    return value if value is not None else SecretStr("")


def _or_none(value: str) -> str | None:
    return value.strip() or None


def airbyte_block(settings: Settings) -> AirbyteConnection:
    return AirbyteConnection(
        server_url=settings.airbyte_server_url.strip(),
        connection_ids=settings.connection_ids,
        client_id=settings.airbyte_client_id,
        client_secret=settings.airbyte_client_secret,
        api_token=settings.airbyte_api_token,
        username=settings.airbyte_username,
        password=settings.airbyte_password,
        poll_interval_seconds=settings.airbyte_poll_interval_seconds,
        timeout_seconds=settings.airbyte_timeout_seconds,
        max_concurrent_syncs=settings.airbyte_max_concurrent_syncs,
    )


def dbt_block(settings: Settings) -> DbtConfig:
    return DbtConfig(
        project_dir=str(settings.dbt_project_dir),
        profiles_dir=str(settings.dbt_profiles_dir or ""),
        target=settings.dbt_target,
        threads=settings.dbt_threads,
        select=settings.default_select,
        exclude=settings.default_exclude,
    )


def aws_block(settings: Settings) -> AwsCredentials:
    return AwsCredentials(
        aws_access_key_id=_or_none(settings.aws_access_key_id),
        aws_secret_access_key=settings.aws_secret_access_key.get_secret_value() or None,
        aws_session_token=settings.aws_session_token.get_secret_value() or None,
        region_name=_or_none(settings.aws_region),
        aws_client_parameters=AwsClientParameters(endpoint_url=_or_none(settings.aws_endpoint_url)),
    )


def s3_block(settings: Settings, credentials: AwsCredentials) -> S3Bucket:
    return S3Bucket(
        bucket_name=settings.s3_bucket, bucket_folder=settings.s3_prefix, credentials=credentials
    )


def snowflake_configured(settings: Settings) -> bool:
    return settings.uses_snowflake or bool(settings.snowflake_account.strip())


def snowflake_credentials_block(settings: Settings) -> SnowflakeCredentials:
    """Key pair when a key path is set (as the connection does), else the password."""
    key_path = _or_none(settings.snowflake_private_key_path)
    auth: dict[str, object] = (
        {
            "private_key_path": key_path,
            "private_key_passphrase": (
                settings.snowflake_private_key_passphrase.get_secret_value() or None
            ),
        }
        if key_path
        else {"password": settings.snowflake_password.get_secret_value() or None}
    )
    return SnowflakeCredentials(
        account=settings.snowflake_account,
        user=settings.snowflake_user,
        role=_or_none(settings.snowflake_role),
        **auth,
    )


def snowflake_block(settings: Settings, credentials: SnowflakeCredentials) -> SnowflakeConnection:
    return SnowflakeConnection(
        credentials=credentials,
        database=settings.snowflake_database,
        warehouse=settings.snowflake_warehouse,
        schema=settings.snowflake_schema,
        host=settings.snowflake_host,
        port=settings.snowflake_port,
        protocol=settings.snowflake_protocol,
    )


def load_block(cls: type[Any], name: str) -> Any:
    """`cls.load(name)`, with a missing block turned into the fix."""
    try:
        return cls.load(name)
    except ValueError as exc:
        if "Unable to find block document" not in str(exc):
            raise
        raise ConfigError(
            f"no {cls.get_block_type_slug()} block named {name!r} on the Prefect server: "
            f"register the blocks with `{REGISTER_HINT.format(name=name)}` "
            f"(or `python -m orchestration.blocks.connections --name {name}`)"
        ) from None


def settings_from_blocks(name: str) -> dict[str, object]:
    """Settings overrides from the blocks saved under `name` (Snowflake only for its targets)."""
    airbyte: AirbyteConnection = load_block(AirbyteConnection, name)
    dbt: DbtConfig = load_block(DbtConfig, name)
    s3: S3Bucket = load_block(S3Bucket, name)
    overrides: dict[str, object] = {
        "airbyte_server_url": airbyte.server_url,
        "airbyte_connection_id": ",".join(airbyte.connection_ids),
        "airbyte_client_id": airbyte.client_id,
        "airbyte_client_secret": airbyte.client_secret,
        "airbyte_api_token": airbyte.api_token,
        "airbyte_username": airbyte.username,
        "airbyte_password": airbyte.password,
        "airbyte_poll_interval_seconds": airbyte.poll_interval_seconds,
        "airbyte_timeout_seconds": airbyte.timeout_seconds,
        "airbyte_max_concurrent_syncs": airbyte.max_concurrent_syncs,
        "dbt_project_dir": dbt.project_dir,
        "dbt_profiles_dir": dbt.profiles_dir or None,
        "dbt_target": dbt.target,
        "dbt_threads": dbt.threads,
        "dbt_select": " ".join(dbt.select),
        "dbt_exclude": " ".join(dbt.exclude),
        "s3_bucket": s3.bucket_name,
        "s3_prefix": s3.bucket_folder,
        **_aws_overrides(s3.credentials),
    }
    if dbt.target in SNOWFLAKE_TARGETS:
        overrides.update(_snowflake_overrides(load_block(SnowflakeConnection, name), name))
    return overrides


def _aws_overrides(credentials: Any) -> dict[str, object]:
    """AwsCredentials, or MinIOCredentials for an S3Bucket made in the UI for MinIO."""
    unsupported = [
        field
        for field in ("profile_name", "assume_role_arn", "aws_session_token")
        if getattr(credentials, field, None)
    ]
    if unsupported:
        raise ConfigError(
            f"the S3 block's credentials set {', '.join(unsupported)}, which the sensor does not "
            "use: give the block access keys, or leave them empty so boto3's own chain "
            "(profile, instance or task role) applies"
        )
    if hasattr(credentials, "minio_root_user"):
        key_id, secret = credentials.minio_root_user, credentials.minio_root_password
    else:
        key_id, secret = credentials.aws_access_key_id, credentials.aws_secret_access_key
    return {
        "aws_access_key_id": key_id or "",
        "aws_secret_access_key": _secret(secret),
        "aws_region": credentials.region_name or "",
        "aws_endpoint_url": credentials.aws_client_parameters.endpoint_url or "",
    }


def _snowflake_overrides(block: SnowflakeConnection, name: str) -> dict[str, object]:
    creds = block.credentials
    if creds.private_key is not None:
        raise ConfigError(
            f"elt-snowflake-connection/{name}: an inline private_key is not supported (it would "
            "have to be written to disk for dbt); set private_key_path to the key file instead"
        )
    return {
        "snowflake_account": creds.account,
        "snowflake_user": creds.user or "",
        "snowflake_password": _secret(creds.password),
        "snowflake_private_key_path": str(creds.private_key_path or ""),
        "snowflake_private_key_passphrase": _secret(creds.private_key_passphrase),
        "snowflake_role": creds.role or "",
        "snowflake_database": block.database,
        "snowflake_schema": block.schema_,
        "snowflake_warehouse": block.warehouse,
        "snowflake_host": block.host,
        "snowflake_port": block.port,
        "snowflake_protocol": block.protocol,
    }
