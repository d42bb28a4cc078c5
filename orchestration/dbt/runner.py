"""Run dbt in-process through its programmatic API (`dbtRunner`) and collect node results.

In-process avoids a second Python start-up and gives structured events, which `progress`
turns into live progress without a Prefect task per node (the cost that makes per-node task
runs several times slower than dbt itself).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dbt.cli.main import dbtRunner

from orchestration.dbt.results import DbtRunResult, NodeResult
from orchestration.errors import ConfigError
from orchestration.settings import Settings

NODE_COMMANDS = {"build", "run", "test", "seed", "snapshot", "retry"}


def dbt_args(
    command: str,
    settings: Settings,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    dbt_vars: Mapping[str, object] | None = None,
) -> list[str]:
    """The dbt command line for `command` against the configured project, profile and target."""
    project_dir = settings.dbt_project_dir.resolve()
    if not (project_dir / "dbt_project.yml").exists():
        raise ConfigError(
            f"DBT_PROJECT_DIR={project_dir} has no dbt_project.yml: point DBT_PROJECT_DIR "
            "(or --project-dir) at your dbt project"
        )
    profiles_dir = settings.resolved_profiles_dir
    if not (profiles_dir / "profiles.yml").exists():
        raise ConfigError(
            f"DBT_PROFILES_DIR={profiles_dir} has no profiles.yml: point DBT_PROFILES_DIR "
            "(or --profiles-dir) at the folder that holds it"
        )
    args = [command, "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]
    if command == "deps":
        return args
    args += ["--target", settings.dbt_target]
    if command in NODE_COMMANDS:
        args += ["--threads", str(settings.dbt_threads)]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars))]
    if command in NODE_COMMANDS - {"retry"}:
        if select:
            args += ["--select", *select]
        if exclude:
            args += ["--exclude", *exclude]
        if full_refresh and command in {"build", "run", "seed"}:
            args.append("--full-refresh")
    return args


def run_dbt(
    args: list[str],
    settings: Settings,
    *,
    callbacks: Sequence[Callable[[Any], None]] = (),
    runner: Any = None,
) -> DbtRunResult:
    """Invoke dbt with `args`; never raises for dbt failures, the result says what failed.

    `callbacks` receive dbt's structured events as they happen (see `progress.NodeProgress`).
    `runner` replaces dbt's own `dbtRunner` (e.g. prefect-dbt's, which logs for itself).
    """
    command = args[0]
    started = time.monotonic()
    with exported_env(settings.dbt_env()):
        try:
            if runner is None:
                res = dbtRunner(callbacks=list(callbacks)).invoke([*args, "--quiet"])
            else:
                res = runner.invoke(args)
        finally:
            release_duckdb()
    elapsed = time.monotonic() - started
    nodes = node_results(res.result)
    error = None
    if not res.success and not any(n.failed for n in nodes):
        error = str(res.exception) if res.exception else _result_error(res.result)
    return DbtRunResult(
        command=command, success=bool(res.success), nodes=nodes, error=error, elapsed_s=elapsed
    )


@contextmanager
def exported_env(values: Mapping[str, str]) -> Iterator[None]:
    """Export `values` to the process environment for dbt's `env_var()`, then restore it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command.

    DuckDB lets one process write a file: left open, it would lock out the embedded Airbyte
    (a subprocess) and clash with our own read-only connection for the freshness check.
    """
    from dbt.adapters.factory import reset_adapters

    reset_adapters()  # drops the adapters' cached connections (and their DuckDB cursors)
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if env is not None:
            env.close()


def node_results(result: object) -> list[NodeResult]:
    nodes = []
    for r in getattr(result, "results", None) or []:
        node = getattr(r, "node", None)
        if node is None:
            continue
        adapter_response = getattr(r, "adapter_response", None) or {}
        rows = adapter_response.get("rows_affected") if isinstance(adapter_response, dict) else None
        status = getattr(r.status, "value", r.status)
        nodes.append(
            NodeResult(
                unique_id=node.unique_id,
                name=node.name,
                resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
                status=str(status),
                duration_s=float(getattr(r, "execution_time", 0.0) or 0.0),
                rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
                message=str(getattr(r, "message", "") or ""),
            )
        )
    return nodes


def _result_error(result: object) -> str:
    return str(result) if result is not None else "dbt did not start (see the dbt log above)"
