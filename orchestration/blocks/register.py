"""Register the blocks from the environment and `.env`: validate all, then save what changed.

Every problem is reported at once, before anything is saved. Saving is idempotent: a block
whose values already match is left untouched, so running registration twice changes nothing.
Output never shows a secret, only whether it is set.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, cast

from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
from prefect_snowflake import SnowflakeCredentials
from pydantic import BaseModel, SecretBytes, SecretStr

from orchestration.config import (
    AirbyteConnection,
    DbtConfig,
    S3SensorConfig,
    SnowflakeConnection,
)
from orchestration.config.blocks import api_unreachable
from orchestration.config.load import load_env_domains, snowflake_missing
from orchestration.config.sources import Problems, read_environment
from orchestration.errors import ConfigError
from orchestration.local_server import use_local_server

MASK = "********"

# Every block type this project saves or reads, nested ones first.
BLOCK_CLASSES: tuple[type[Block], ...] = (
    AirbyteConnection,
    SnowflakeCredentials,
    SnowflakeConnection,
    DbtConfig,
    AwsCredentials,
    S3Bucket,
    S3SensorConfig,
)


@dataclass(frozen=True)
class Saved:
    status: str  # created | updated | unchanged
    block: Block
    name: str

    @property
    def ref(self) -> str:
        return f"{self.block.get_block_type_slug()}/{self.name}"


@dataclass(frozen=True)
class Registration:
    """The blocks the environment describes, checked as a whole."""

    airbyte: AirbyteConnection
    dbt: DbtConfig
    s3: S3SensorConfig
    snowflake: SnowflakeConnection | None


def validated_blocks() -> Registration:
    """The blocks from the environment and `.env`; every problem reported at once."""
    env = read_environment()
    problems = Problems()
    loaded = load_env_domains(env, problems)
    ids = env.get("AIRBYTE_CONNECTION_ID") or env.get("AIRBYTE_CONNECTION_IDS")
    if env.get("AIRBYTE_SERVER_URL", "").strip() and not (ids or "").strip(", "):
        problems.add("AIRBYTE_CONNECTION_ID", "missing: needed with AIRBYTE_SERVER_URL")
    if SnowflakeConnection.env.set_in(env):
        for missing in snowflake_missing(env):
            problems.add("Snowflake", missing)
    if env.get("AWS_SESSION_TOKEN"):
        problems.add(
            "AWS_SESSION_TOKEN",
            "invalid for a block: temporary credentials expire; register long-lived keys, or "
            "none so workers use their own role",
        )
    dbt: DbtConfig | None = loaded["dbt"]
    if dbt is not None and not (dbt.project_path / "dbt_project.yml").is_file():
        problems.add("DBT_PROJECT_DIR", f"no dbt_project.yml in {dbt.project_path}")
    problems.raise_if_any(
        "Fix them in the environment or .env (see .env.example)", "cannot register the blocks"
    )
    return Registration(loaded["airbyte"], loaded["dbt"], loaded["s3"], loaded["snowflake"])


def persist(block: Block, name: str) -> Saved:
    """Save `block` as `name` unless an identical one is already saved."""
    try:
        existing: Block | None = cast(Block, type(block).load(name))  # sync: a Block
    except ValueError:
        existing = None
    if existing is not None and field_values(existing) == field_values(block):
        return Saved("unchanged", existing, name)
    block.save(name, overwrite=True)
    return Saved("created" if existing is None else "updated", block, name)


def field_values(model: BaseModel) -> dict[str, object]:
    """Declared fields only (a loaded block also carries its document id and name)."""
    return {
        field: field_values(value) if isinstance(value, BaseModel) else value
        for field in type(model).model_fields
        for value in [getattr(model, field)]
    }


def register_blocks(blocks: Registration, name: str) -> list[Saved]:
    """Register the block types, then save every block under `name` (nested blocks first, so
    the parent refers to the saved one)."""
    try:
        for cls in BLOCK_CLASSES:
            cls.register_type_and_schema()
    except Exception as exc:
        if _is_connect_error(exc):
            raise api_unreachable(exc) from None
        raise
    saved = [persist(blocks.airbyte, name)]
    if blocks.snowflake is not None:
        credentials = persist(blocks.snowflake.credentials, name)
        saved += [
            credentials,
            persist(_with(blocks.snowflake, credentials=credentials.block), name),
        ]
    saved.append(persist(blocks.dbt, name))
    aws = persist(blocks.s3.credentials, name)
    bucket = persist(_with(blocks.s3.bucket, credentials=aws.block), name)
    saved += [aws, bucket, persist(_with(blocks.s3, bucket=bucket.block), name)]
    return saved


def _with(block: Block, **nested: Block) -> Any:
    """`block` with its nested blocks replaced by saved ones (kept as references)."""
    copy = block.model_copy()
    for field, value in nested.items():
        setattr(copy, field, value)
    return copy


def _is_connect_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError)


def masked_fields(block: BaseModel) -> dict[str, str]:
    """The block's fields as text: secrets as `********` (or empty), nested blocks flattened."""
    out: dict[str, str] = {}
    for field in type(block).model_fields:
        value = getattr(block, field)
        if isinstance(value, Block) and value._block_document_name:
            out[field] = f"{value.get_block_type_slug()}/{value._block_document_name}"
        elif isinstance(value, Block):
            out.update({f"{field}.{k}": v for k, v in masked_fields(value).items()})
        elif isinstance(value, BaseModel):
            inner = {k: v for k, v in masked_fields(value).items() if v not in ("", "None")}
            if inner:
                out.update({f"{field}.{k}": v for k, v in inner.items()})
        else:
            out[field.rstrip("_")] = _masked(value)
    return out


def _masked(value: object) -> str:
    if isinstance(value, SecretStr | SecretBytes):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def describe(ref: str, block: BaseModel) -> str:
    fields = " ".join(f"{k}={v}" for k, v in masked_fields(block).items() if v != "")
    return f"{ref}: {fields}"


def saved_blocks(name: str | None = None) -> list[tuple[str, Block]]:
    """The saved blocks of the project's types (all names, or one), loaded, as `(ref, block)`."""
    import httpx
    from prefect.client.orchestration import get_client

    found = []
    try:
        with get_client(sync_client=True) as client:
            found = _read_saved(client, name)
    except httpx.TransportError as exc:
        raise api_unreachable(exc) from None
    return found


def _read_saved(client: Any, name: str | None) -> list[tuple[str, Block]]:
    import httpx

    found = []
    for cls in BLOCK_CLASSES:
        slug = cls.get_block_type_slug()
        try:
            documents = client.read_block_documents_by_type(slug, include_secrets=False)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:  # type not registered yet: nothing saved
                continue
            raise
        for doc in sorted(documents, key=lambda d: d.name or ""):
            if doc.name and not doc.is_anonymous and name in (None, doc.name):
                found.append((f"{slug}/{doc.name}", cast(Block, cls.load(doc.name))))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.blocks.connections",
        description="Save the Airbyte, Snowflake, dbt and S3 blocks from the environment/.env.",
    )
    parser.add_argument("--name", default="default", help="Block name (default: default).")
    args = parser.parse_args(argv)
    try:
        blocks = validated_blocks()
        use_local_server(lambda line: print(line, file=sys.stderr))  # as `elt blocks register`
        results = register_blocks(blocks, args.name)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for saved in results:
        print(f"{saved.status:<9} {describe(saved.ref, saved.block)}")
    return 0
