"""The last accepted schema of each dbt source table, per warehouse (a dbt target and the
database it points at), kept on the Prefect server (a block: a table of hundreds of columns
outgrows a Variable's 5000 characters), so a drift check on any worker compares with the same
snapshot."""

from __future__ import annotations

import hashlib
import re

from prefect.blocks.core import Block
from pydantic import Field

Columns = dict[str, str]  # lowercase column name -> type, as information_schema says


class SchemaSnapshot(Block):
    """The accepted columns of each source table (`source.table`) of one dbt target."""

    _block_type_name = "ELT Schema Snapshot"
    tables: dict[str, Columns] = Field(default_factory=dict)


def block_name(target_name: str, warehouse: str) -> str:
    """`elt-schema-<target>-<digest of the warehouse's identity>`: two DuckDB files, or two
    Snowflake accounts, behind one target name are two warehouses."""
    slug = re.sub(r"[^a-z0-9-]+", "-", target_name.lower()).strip("-")
    return f"elt-schema-{slug}-{hashlib.sha256(warehouse.encode()).hexdigest()[:10]}"


def load_snapshot(target_name: str, warehouse: str) -> dict[str, Columns]:
    try:
        saved = SchemaSnapshot.load(block_name(target_name, warehouse))
    except ValueError:  # none saved yet
        return {}
    return dict(saved.tables)  # type: ignore[union-attr]


def save_snapshot(target_name: str, warehouse: str, tables: dict[str, Columns]) -> None:
    SchemaSnapshot(tables=tables).save(block_name(target_name, warehouse), overwrite=True)


__all__ = ["Columns", "SchemaSnapshot", "block_name", "load_snapshot", "save_snapshot"]
