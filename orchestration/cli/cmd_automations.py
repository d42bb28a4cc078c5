"""`elt automations`: alerting as code, the automations of automations/*.yaml."""

from __future__ import annotations

import typer

from orchestration.cli._options import DryRun
from orchestration.cli._output import console, line, table
from orchestration.cli._policy import configure, guarded, use_local_server

__all__ = ["app"]

app = typer.Typer(
    help="Alerting as code: the automations of automations/*.yaml on the Prefect server.",
    no_args_is_help=True,
)


@app.command("apply")
def apply(dry_run: DryRun = False) -> None:
    """Create or update every automation by name (applying twice changes nothing). The alert
    webhook comes from ALERT_WEBHOOK_URL, saved as the Webhook block `elt-alerts`."""
    from orchestration.config.block_loading import require_api_url
    from orchestration.server.automations import apply as apply_automations

    config = configure(None, uses_server=True)
    guarded(lambda: require_api_url("elt automations apply"))
    url = config.options.alert_webhook_url
    for applied in guarded(lambda: apply_automations(url, dry_run=dry_run)):
        line(f"{applied.said:<9} {applied.wanted.name}")
        if applied.change and dry_run:
            console.print(applied.change, highlight=False, markup=False)


@app.command("show")
def show() -> None:
    """List the automations on the Prefect server."""
    from orchestration.server.automations import show as automations

    use_local_server()
    rows = guarded(automations)
    if not rows:
        line("no automations on the Prefect server yet: `elt automations apply` creates them")
    table("Automations", rows)
