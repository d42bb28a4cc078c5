"""Work done ahead of runs (at image build time): dbt packages and manifest, the embedded
Airbyte environment and its connector, so that the first run starts at full speed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from orchestration.dbt.deps import deps_needed, record_deps
from orchestration.dbt.runner import dbt_args, run_dbt
from orchestration.errors import StepFailed
from orchestration.settings import get_settings


def prepare_dbt() -> str:
    settings = get_settings()
    project_dir = settings.dbt_project_dir.resolve()
    steps = ["deps", "parse"] if deps_needed(project_dir) else ["parse"]
    for command in steps:
        result = run_dbt(dbt_args(command, settings), settings)
        if not result.success:
            raise StepFailed(result.failure_message())
        if command == "deps":
            record_deps(project_dir)
    return f"dbt project ready ({' + '.join(steps)}): manifest in {project_dir / 'target'}"


def prepare_embedded() -> str:
    """Build the PyAirbyte environment and install source-faker with a one-record sync."""
    from orchestration.airbyte.embedded import run_embedded_sync

    with tempfile.TemporaryDirectory() as scratch:
        settings = get_settings(faker_count=1, duckdb_path=Path(scratch) / "prepare.duckdb")
        run_embedded_sync(settings)
    return f"embedded Airbyte ready: source-faker installed under {settings.elt_home / 'airbyte'}"
