"""`elt limits`: global concurrency limits on the Prefect server, bounds across all workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from orchestration.cli._options import BlockName, DryRun
from orchestration.cli._output import line, table
from orchestration.cli._policy import configure, guarded, use_local_server

if TYPE_CHECKING:
    from orchestration.limits import WantedLimit

__all__ = ["app"]

app = typer.Typer(
    help="Bounds across all workers: global concurrency limits on the Prefect server.",
    no_args_is_help=True,
)


@app.command("apply")
def apply(dry_run: DryRun = False, block: BlockName = None) -> None:
    """Create or resize the limits runs take slots of (applying twice changes nothing):
    airbyte-api (ELT_LIMIT_AIRBYTE_SYNCS) and, with Snowflake settings, the warehouse's
    (ELT_LIMIT_WAREHOUSE_BUILDS)."""
    from orchestration.config.block_loading import require_api_url
    from orchestration.limits import apply as apply_limits
    from orchestration.limits import wanted_limits

    config = configure(block, uses_server=True)
    guarded(lambda: require_api_url("elt limits apply"))
    wanted = wanted_limits(config)
    for applied in guarded(lambda: apply_limits(wanted, dry_run=dry_run)):
        limit = applied.wanted
        detail = applied.change or f"{limit.size} ({limit.setting})"
        line(f"{applied.said:<9} {limit.name}: {detail}; {limit.bounds}")
    _print_repairs(wanted, dry_run, quiet=True)


@app.command("repair")
def repair(dry_run: DryRun = False, block: BlockName = None) -> None:
    """Free the slots no live run holds: those left by a Prefect server restart that lost its
    leases, or by a run that ended without giving its slot back. A live run's slot is never
    freed."""
    from orchestration.config.block_loading import require_api_url
    from orchestration.limits import wanted_limits

    config = configure(block, uses_server=True)
    guarded(lambda: require_api_url("elt limits repair"))
    _print_repairs(wanted_limits(config), dry_run, quiet=False)


def _print_repairs(wanted: list[WantedLimit], dry_run: bool, *, quiet: bool) -> None:
    """One line per limit repaired (with `quiet`, none for a limit with nothing to free)."""
    from orchestration.limits import limits_to_repair
    from orchestration.limits import repair as repair_limits

    names = guarded(lambda: limits_to_repair(wanted))
    for repaired in guarded(lambda: repair_limits(names, dry_run=dry_run, say=line)):
        if not quiet or repaired.status != "ok":
            line(f"{repaired.status:<9} {repaired.summary()}")


@app.command("show")
def show() -> None:
    """List the global concurrency limits on the Prefect server, with the slots in use and
    the runs holding them."""
    from orchestration.config.block_loading import require_api_url
    from orchestration.limits import show as limits

    use_local_server()
    guarded(lambda: require_api_url("elt limits show"))
    rows = guarded(limits)
    if not rows:
        line("no global concurrency limit on the Prefect server yet: `elt limits apply` adds them")
    table("Global concurrency limits", rows)
