"""`elt`: the root command, composed of one module per command group (its entry point, which
runs it, is `orchestration.cli.entry`).

Every command prints a short summary and exits 0 only on success; a failure prints one line
(`error: ...`) unless `--debug` asks for the traceback (see `orchestration.cli._policy`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli._policy import set_debug
from orchestration.cli.cmd_automations import app as automations_app
from orchestration.cli.cmd_backfill import backfill
from orchestration.cli.cmd_blocks import app as blocks_app
from orchestration.cli.cmd_drift import app as drift_app
from orchestration.cli.cmd_freshness import freshness
from orchestration.cli.cmd_limits import app as limits_app
from orchestration.cli.cmd_lineage import lineage
from orchestration.cli.cmd_run import run
from orchestration.cli.cmd_sensor import app as sensor_app
from orchestration.cli.cmd_serve import prepare, serve
from orchestration.cli.cmd_server import app as server_app
from orchestration.cli.cmd_server import ui
from orchestration.cli.cmd_sync import sync
from orchestration.cli.cmd_transform import transform

__all__ = ["app"]

app = typer.Typer(
    help="ELT orchestration: Airbyte sync -> dbt build -> freshness SLA, on Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on failure.")] = False,
) -> None:
    set_debug(debug)


for command in (run, sync, transform, backfill, freshness, lineage, ui, serve, prepare):
    app.command()(command)
app.add_typer(sensor_app, name="sensor")
app.add_typer(blocks_app, name="blocks")
app.add_typer(drift_app, name="drift")
app.add_typer(automations_app, name="automations")
app.add_typer(limits_app, name="limits")
app.add_typer(server_app, name="server")
