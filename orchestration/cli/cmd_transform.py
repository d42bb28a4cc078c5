"""`elt transform`: `dbt deps` (when packages changed) and `dbt build` on any dbt project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

from orchestration.cli._options import (
    FLAG_ORIGINS,
    BlockName,
    Exclude,
    Select,
    Settings,
    overrides,
    setting_flags,
)
from orchestration.cli._output import line
from orchestration.cli._policy import configure, guarded, run_flow
from orchestration.errors import UserError

if TYPE_CHECKING:
    from orchestration.dbt.run_results import DbtRunResult

__all__ = ["check_vars", "transform"]

VARS_EXAMPLE = """e.g. --vars '{"day": "2026-11-01"}'"""


@setting_flags("dbt.target", "dbt.threads", "dbt.project_dir", "dbt.profiles_dir")
def transform(
    settings: Settings,
    select: Select = None,
    exclude: Exclude = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    dbt_vars: Annotated[
        str | None,
        typer.Option("--vars", help='dbt vars as YAML/JSON, e.g. \'{"day": "2026-11-01"}\''),
    ] = None,
    retry: Annotated[
        bool, typer.Option("--retry", help="`dbt retry`: rebuild only what failed last time.")
    ] = False,
    node_tasks: Annotated[
        bool, typer.Option("--node-tasks", help="One Prefect task per dbt node (slow).")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Succeed when the selection matches no node."),
    ] = False,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed",
            help="Build only what new source rows or changed code reach since this target's "
            "last complete build (as `elt run` does); reuse the rest.",
        ),
    ] = False,
    block: BlockName = None,
) -> None:
    """Run `dbt deps` (when packages changed) and `dbt build` on any dbt project."""
    # imported before the first guarded action, with the collector paused (_policy)
    from orchestration.flows.dbt_transform import dbt_transform

    guarded(lambda: check_vars(dbt_vars))  # before any work; dbt reads the text itself
    config = configure(block, overrides(settings), FLAG_ORIGINS, warehouse=True, uses_server=True)

    result = run_flow(
        config,
        lambda: cast(
            "DbtRunResult",
            dbt_transform(
                select=select,
                exclude=exclude,
                full_refresh=full_refresh,
                vars=dbt_vars or None,
                retry=retry,
                node_tasks=node_tasks,
                allow_empty=allow_empty,
                block_name=block,
                changed_only=changed,
                **settings,
            ),
        ),
    )
    counts = ", ".join(f"{k}={v}" for k, v in sorted(result.status_counts().items()))
    line(
        f"dbt {result.command} OK: {result.summary()}"
        + (f" ({counts})" if counts else "")
        + f" in {result.elapsed_s:.1f}s"
        + (f" on target {result.target}" if result.target else "")
        + result.reuse_note()
    )


def check_vars(text: str | None) -> None:
    """--vars is parsed by dbt, as YAML; a typo is caught here, before the sync or build."""
    if not text:
        return
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UserError(
            f"--vars is not valid YAML/JSON ({problem}{where}): {VARS_EXAMPLE}"
        ) from None
    if not isinstance(value, dict):
        raise UserError(f"--vars must be a mapping: {VARS_EXAMPLE}")
