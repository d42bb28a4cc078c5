"""One identity per dataset, so that a lineage server stitches the pipeline into one graph.

OpenLineage names a table by its warehouse's namespace and `DATABASE.SCHEMA.TABLE`: Snowflake
`snowflake://<account>` (OpenLineage's account form), DuckDB `duckdb://<file path>`. dbt's
events come from OpenLineage's own dbt integration, which derives them from the profile; the
raw tables the Airbyte syncs write are named here with that same code, from the same profile,
so a sync's output and a dbt source's input are the same dataset. An Airbyte stream (the
source side) is `airbyte://<connection>` / `<stream>`; an S3 landing file `s3://<bucket>` /
`<key>`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.config import Config, DbtTarget
from orchestration.dbt.runner import exported_env

PRODUCER = "urn:elt-orchestration"  # who emits these events (a URI, as OpenLineage asks)
PREFECT_NAMESPACE = "prefect"


def job_namespace() -> str:
    """OpenLineage's own setting for where jobs live (its client's default too)."""
    return os.environ.get("OPENLINEAGE_NAMESPACE") or "default"


@dataclass(frozen=True)
class Warehouse:
    """How the dbt target's tables are named: `namespace` and `database`."""

    namespace: str
    database: str | None
    location: str = ""  # which warehouse: the DuckDB file, or the account, host and database

    def table(self, schema: str, table: str) -> str:
        return ".".join(part for part in (self.database, schema, table) if part)


def processor(config: Config, target: DbtTarget, command_line: list[str] | None = None) -> Any:
    """OpenLineage's dbt artifact processor for this project and target."""
    from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

    return DbtLocalArtifactProcessor(
        producer=PRODUCER,
        job_namespace=job_namespace(),
        project_dir=str(config.dbt.project_path),
        target=target.name,
        target_path=str(config.dbt.target_path(config.env)),
        dbt_command_line=command_line or ["--profiles-dir", str(config.dbt.profiles_path)],
        skip_errors=True,
    )


def warehouse(config: Config, target: DbtTarget) -> Warehouse:
    """The target's namespace and database, read from its profile as dbt's events read it."""
    ol = processor(config, target)
    with exported_env(config.dbt_env(target)):
        profiles = ol.load_yaml_with_jinja(str(config.dbt.profiles_path / "profiles.yml"))
        output = profiles[ol.profile_name]["outputs"][target.name]  # rendered as read
        ol.extract_adapter_type(output)
        ol.extract_dataset_namespace(output)
        database = output.get("database")
        if target.adapter_type == "duckdb" and not database:
            database = Path(str(output.get("path", ""))).stem or None  # dbt-duckdb's naming
    return Warehouse(ol.dataset_namespace, database, location(output))


def location(output: dict[str, Any]) -> str:
    """The warehouse a profile's output points at, in one line without credentials: two
    targets with one name (a test's own DuckDB file, another account) are two warehouses."""
    if output.get("path"):
        return f"{output.get('type')}:{Path(str(output['path'])).resolve()}"
    parts = (output.get(key) for key in ("type", "account", "host", "port", "database"))
    return ":".join(str(part) for part in parts if part not in (None, ""))


def stream_dataset(connection: str) -> str:
    return f"airbyte://{connection}"


__all__ = [
    "PREFECT_NAMESPACE",
    "PRODUCER",
    "Warehouse",
    "job_namespace",
    "processor",
    "stream_dataset",
    "warehouse",
]
