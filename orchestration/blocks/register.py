"""Register the blocks from the environment and `.env`: validate all, then save what changed.

Every problem is reported at once, before anything is saved. Saving is idempotent: a block
whose values already match is left untouched, so running registration twice changes nothing.
Output never shows a secret, only whether it is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from prefect.blocks.core import Block
from pydantic import BaseModel

from orchestration.blocks.saved import BLOCK_TYPES, block_class
from orchestration.config import (
    AirbyteConnection,
    DbtConfig,
    S3SensorConfig,
    SnowflakeConnection,
)
from orchestration.config.block_loading import api_unreachable
from orchestration.config.load import load_env_domains, snowflake_missing
from orchestration.config.sources import Problems, read_environment

# Every block type this project saves, nested ones first (the classes of saved.BLOCK_TYPES).
BLOCK_CLASSES: tuple[type[Block], ...] = tuple(block_class(slug) for slug in BLOCK_TYPES)


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
