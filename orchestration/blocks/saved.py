"""The blocks saved on the Prefect server, read for `elt blocks show`: each secret shown as set
or not, never its value.

A block type's class is imported only when a block of that type is saved: prefect-snowflake
alone costs about 2 s of imports, which a project without Snowflake should not pay to list
its blocks. `tests/unit/test_blocks.py` checks these slugs against the classes.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from prefect.blocks.core import Block, BlockNotSavedError
from pydantic import BaseModel, SecretBytes, SecretStr

from orchestration.config.block_loading import api_unreachable

MASK = "********"

# Every block type this project saves, nested ones first: slug -> "module:class".
BLOCK_TYPES: dict[str, str] = {
    "elt-airbyte-connection": "orchestration.config.airbyte_settings:AirbyteConnection",
    "snowflake-credentials": "prefect_snowflake.credentials:SnowflakeCredentials",
    "elt-snowflake-connection": "orchestration.config.snowflake_settings:SnowflakeConnection",
    "elt-dbt-config": "orchestration.config.dbt_settings:DbtConfig",
    "aws-credentials": "prefect_aws.credentials:AwsCredentials",
    "s3-bucket": "prefect_aws.s3:S3Bucket",
    "elt-s3-sensor": "orchestration.config.s3_settings:S3SensorConfig",
}


def block_class(slug: str) -> type[Block]:
    module, name = BLOCK_TYPES[slug].split(":")
    return cast(type[Block], getattr(importlib.import_module(module), name))


def saved_blocks(name: str | None = None) -> list[tuple[str, Block]]:
    """The saved blocks of the project's types (all names, or one) as `(ref, block)`: one
    request per type, then Prefect's own `load` per saved block (a handful). Secrets are read
    (the server masks unset ones too) only so that `masked_fields` can tell a set one from an
    unset one."""
    import httpx
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            return _read_saved(client, name)
    except httpx.TransportError as exc:
        raise api_unreachable(exc) from None


def _read_saved(client: Any, name: str | None) -> list[tuple[str, Block]]:
    import httpx

    found = []
    for slug in BLOCK_TYPES:
        try:
            # names only: `load` below reads each block, its secrets included
            documents = client.read_block_documents_by_type(slug, include_secrets=False)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:  # type not registered yet: nothing saved
                continue
            raise
        wanted = [d for d in documents if d.name and not d.is_anonymous and name in (None, d.name)]
        for doc in sorted(wanted, key=lambda d: d.name or ""):
            for nested_slug in _nested_slugs(doc):  # their classes, before the parent's
                block_class(nested_slug)
            found.append((f"{slug}/{doc.name}", cast(Block, block_class(slug).load(doc.name))))
    return found


def _nested_slugs(doc: Any) -> list[str]:
    references = getattr(doc, "block_document_references", None) or {}
    slugs = []
    for reference in references.values():
        inner = reference.get("block_document", {}) if isinstance(reference, dict) else {}
        slug = inner.get("block_type", {}).get("slug")
        if slug in BLOCK_TYPES:
            slugs.append(slug)
    return slugs


def masked_fields(block: BaseModel) -> dict[str, str]:
    """The block's fields as text: secrets as `********` (or empty), nested blocks flattened."""
    out: dict[str, str] = {}
    for field in type(block).model_fields:
        value = getattr(block, field)
        if isinstance(value, Block) and (saved_as := _saved_name(value)):
            out[field] = f"{value.get_block_type_slug()}/{saved_as}"
        elif isinstance(value, Block):
            out.update({f"{field}.{k}": v for k, v in masked_fields(value).items()})
        elif isinstance(value, BaseModel):
            inner = {k: v for k, v in masked_fields(value).items() if v not in ("", "None")}
            if inner:
                out.update({f"{field}.{k}": v for k, v in inner.items()})
        else:
            out[field.rstrip("_")] = _masked(value)
    return out


def _saved_name(block: Block) -> str | None:
    """The name a nested block is saved under, None for one stored inside its parent: read
    from Prefect's public placeholder `prefect.blocks.<slug>.<name>`."""
    try:
        placeholder = block.get_block_placeholder()
    except BlockNotSavedError:
        return None
    return placeholder.removeprefix(f"prefect.blocks.{block.get_block_type_slug()}.")


def _masked(value: object) -> str:
    if isinstance(value, SecretStr | SecretBytes):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def describe(ref: str, block: BaseModel) -> str:
    fields = " ".join(f"{k}={v}" for k, v in masked_fields(block).items() if v != "")
    return f"{ref}: {fields}"


__all__ = ["BLOCK_TYPES", "MASK", "block_class", "describe", "masked_fields", "saved_blocks"]
