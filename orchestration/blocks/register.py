"""Register the blocks from the environment and `.env`: validate all, then save what changed.

Every problem is reported at once, before anything is saved. Saving is idempotent: a block
whose values already match is left untouched, so running registration twice changes nothing.
Output never shows a secret, only whether it is set.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.blocks.core import Block
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from orchestration.blocks import mapping
from orchestration.blocks.connections import BLOCK_CLASSES
from orchestration.errors import ConfigError
from orchestration.settings import Settings

MASK = "********"


@dataclass(frozen=True)
class Saved:
    status: str  # created | updated | unchanged
    block: Block
    name: str

    @property
    def ref(self) -> str:
        return f"{self.block.get_block_type_slug()}/{self.name}"


def settings_for_registration() -> tuple[Settings, list[str]]:
    """Settings from env/.env, plus a line per invalid variable (reported with the missing)."""
    try:
        return Settings(), []
    except ValidationError as exc:
        invalid = {str(err["loc"][0]): err["msg"] for err in exc.errors() if err["loc"]}
    defaults = {
        field: info.get_default(call_default_factory=True)
        for field, info in Settings.model_fields.items()
        if _env_name(field, info) in invalid
    }
    return Settings(**defaults), [f"{name} (invalid: {msg})" for name, msg in invalid.items()]


def _env_name(field: str, info: Any) -> str:
    choices = getattr(info.validation_alias, "choices", None)
    return str(choices[0]) if choices else (info.alias or field)


def missing_or_invalid(settings: Settings) -> list[str]:
    """Every variable registration cannot work without, with what is wrong with it."""
    problems = []
    url = settings.airbyte_server_url.strip()
    if url:
        if not url.startswith(("http://", "https://")):
            problems.append("AIRBYTE_SERVER_URL (invalid: not an http(s) URL)")
        if not settings.connection_ids:
            problems.append("AIRBYTE_CONNECTION_ID (missing: needed with AIRBYTE_SERVER_URL)")
        if settings.airbyte_client_id and not settings.airbyte_client_secret.get_secret_value():
            problems.append("AIRBYTE_CLIENT_SECRET (missing: needed with AIRBYTE_CLIENT_ID)")
    if mapping.snowflake_configured(settings):
        problems += [f"{name} (missing)" for name in settings.missing_snowflake_settings()]
    if settings.aws_session_token.get_secret_value():
        problems.append(
            "AWS_SESSION_TOKEN (invalid for a block: temporary credentials expire; register "
            "long-lived keys, or none so workers use their own role)"
        )
    if not settings.s3_bucket.strip():
        problems.append("S3_BUCKET (missing)")
    project = Path(settings.dbt_project_dir)
    if not (project / "dbt_project.yml").is_file():
        problems.append(f"DBT_PROJECT_DIR (invalid: no dbt_project.yml in {project})")
    return problems


def validated_settings() -> Settings:
    settings, invalid = settings_for_registration()
    problems = invalid + missing_or_invalid(settings)
    if problems:
        raise ConfigError(
            "cannot register the blocks; fix these variables in the environment or .env "
            f"(see .env.example): {'; '.join(problems)}"
        )
    return settings


def persist(block: Block, name: str) -> Saved:
    """Save `block` as `name` unless an identical one is already saved."""
    try:
        existing = type(block).load(name)
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


def register_blocks(settings: Settings, name: str) -> list[Saved]:
    """Register the block types, then save every block the settings describe under `name`."""
    for cls in BLOCK_CLASSES:
        cls.register_type_and_schema()
    saved = [persist(mapping.airbyte_block(settings), name)]
    if mapping.snowflake_configured(settings):
        credentials = persist(mapping.snowflake_credentials_block(settings), name)
        saved += [credentials, persist(mapping.snowflake_block(settings, credentials.block), name)]
    saved.append(persist(mapping.dbt_block(settings), name))
    aws = persist(mapping.aws_block(settings), name)
    saved += [aws, persist(mapping.s3_block(settings, aws.block), name)]
    return saved


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
    with get_client(sync_client=True) as client:
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
                    found.append((f"{slug}/{doc.name}", cls.load(doc.name)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.blocks.connections",
        description="Save the Airbyte, Snowflake, dbt and S3 blocks from the environment/.env.",
    )
    parser.add_argument("--name", default="default", help="Block name (default: default).")
    args = parser.parse_args(argv)
    try:
        settings = validated_settings()
        results = register_blocks(settings, args.name)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for saved in results:
        print(f"{saved.status:<9} {describe(saved.ref, saved.block)}")
    return 0
