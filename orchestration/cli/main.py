"""`elt`: the root command, composed of one module per command group.

Every command prints a short summary and exits 0 only on success; a failure prints one line
(`error: ...`) unless `--debug` asks for the traceback (see `orchestration.cli._policy`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orchestration.cli import (
    automations,
    backfill,
    blocks,
    drift,
    freshness,
    limits,
    lineage,
    run,
    sensor,
    serve,
    server,
    sync,
    transform,
)
from orchestration.cli._policy import set_debug, start_loading_ticker, stop_loading_ticker
from orchestration.runtime import collector, interrupts

__all__ = ["app", "main"]

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


for command in (
    run.run,
    sync.sync,
    transform.transform,
    backfill.backfill,
    freshness.freshness,
    lineage.lineage,
    server.ui,
    serve.serve,
    serve.prepare,
):
    app.command()(command)
app.add_typer(sensor.app, name="sensor")
app.add_typer(blocks.app, name="blocks")
app.add_typer(drift.app, name="drift")
app.add_typer(automations.app, name="automations")
app.add_typer(limits.app, name="limits")
app.add_typer(server.app, name="server")


def main() -> None:
    """The `elt` entry point. The garbage collector waits until the imports are done (the
    first guarded action of every command resumes it) and skips its exit pass (see
    `orchestration.runtime.collector`)."""
    collector.pause_for_imports()
    interrupts.install()
    start_loading_ticker()
    try:
        sys.exit(app())
    finally:
        stop_loading_ticker()
        collector.skip_at_exit()
