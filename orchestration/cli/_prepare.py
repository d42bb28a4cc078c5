"""Work done ahead of runs (at image build time): dbt packages and manifest, the embedded
Airbyte environment and its connector, so that the first run starts at full speed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from orchestration.config import load_config
from orchestration.dbt.deps import deps_needed, record_deps
from orchestration.dbt.runner import run_dbt


def prepare_dbt() -> str:
    config = load_config()
    target = config.require_warehouse()
    project_dir = config.dbt.project_path
    steps = ["deps", "parse"] if deps_needed(project_dir) else ["parse"]
    for command in steps:
        result = run_dbt(config.dbt.args(command), config.dbt_env(target))
        if not result.success:
            raise result.failure()
        if command == "deps":
            record_deps(project_dir)
    target_path = config.dbt.target_path(config.env)
    return f"dbt project ready ({' + '.join(steps)}): manifest in {target_path}"


def prepare_embedded() -> str:
    """Build the PyAirbyte environment and install source-faker with a one-record sync."""
    from orchestration.airbyte.pyairbyte import run_embedded_sync

    with tempfile.TemporaryDirectory() as scratch:
        overrides = {"embedded.faker_count": 1, "embedded.duckdb_path": Path(scratch) / "w.duckdb"}
        config = load_config(overrides=overrides)
        run_embedded_sync(config.faker_sync())
    home = config.local.elt_home / "airbyte"
    return f"embedded Airbyte ready: source-faker installed under {home}"
