"""The embedded stand-ins of a fresh clone: PyAirbyte's source-faker and the DuckDB file it
loads (also the `local` dbt target's warehouse). Read from the environment only."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from orchestration.config.sources import EnvMap
from orchestration.errors import ConfigError

__all__ = ["REPO_ROOT", "EmbeddedConfig"]

REPO_ROOT = Path(__file__).resolve().parents[2]


class EmbeddedConfig(BaseModel):
    faker_count: int = Field(default=1000, ge=1, description="Records per stream.")
    faker_seed: int | None = Field(default=None, description="Seed for repeatable data.")
    faker_always_updated: bool = Field(
        default=False,
        description="source-faker's `always_updated`: every sync re-emits every record as "
        "updated now; false: incremental, a sync with nothing new emits nothing.",
    )
    project_dir: Path = Field(default=REPO_ROOT / "embedded")
    duckdb_path: Path = Field(default=Path(".elt/warehouse.duckdb"))

    env: ClassVar[EnvMap]

    def require_project(self) -> Path:
        project_dir = self.project_dir.resolve()
        if not (project_dir / "pyproject.toml").exists():
            raise ConfigError(
                f"no embedded Airbyte here (EMBEDDED_AIRBYTE_PROJECT_DIR={project_dir} holds no "
                "pyproject.toml): set AIRBYTE_SERVER_URL to sync through an Airbyte server, or "
                "point EMBEDDED_AIRBYTE_PROJECT_DIR at the repository's embedded/ folder "
                "(images: build with --build-arg EMBEDDED=true)"
            )
        return project_dir


EmbeddedConfig.env = EnvMap.derived(
    EmbeddedConfig, "", renames={"project_dir": "EMBEDDED_AIRBYTE_PROJECT_DIR"}
)
