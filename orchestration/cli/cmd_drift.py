"""`elt drift`: the warehouse's source tables against their accepted schema; `accept`."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli._options import BlockName
from orchestration.cli._output import line, table
from orchestration.cli._policy import configure, run_flow

__all__ = ["app"]

app = typer.Typer(
    help="Schema drift: what Airbyte loaded against what the dbt models expect.",
    invoke_without_command=True,
)


@app.callback()
def check(ctx: typer.Context, block: BlockName = None) -> None:
    """Compare each dbt source table in the warehouse with its accepted schema: every change,
    and the models a breaking one holds back (`elt run` leaves them out of the build). A
    breaking change fails the run (exit 1) with the fix, as `elt run` does."""
    if ctx.invoked_subcommand is not None:
        return
    from orchestration.checks.drift import DriftReport
    from orchestration.flows.schema_drift import drift_check

    config = configure(block, warehouse=True, uses_server=True)
    report: DriftReport = run_flow(config, lambda: drift_check(block_name=block))
    table(
        "Schema drift",
        [{"table": c.table, "change": c.kind, "column": c.column or "",
          "breaking": "yes" if c.breaking else "no", "used by": ", ".join(c.used_by)}
         for c in report.changes],
    )  # fmt: skip
    line(report.line())  # a breaking change failed the run: its error line said it all


@app.command("accept")
def accept(
    source_table: Annotated[
        str, typer.Argument(help="The source table, SOURCE.TABLE (e.g. airbyte.users).")
    ],
    block: BlockName = None,
) -> None:
    """Accept a source table's schema as the warehouse holds it now: it stops being drift."""
    from orchestration.tasks.drift_steps import accept as accept_schema

    config = configure(block, warehouse=True, uses_server=True)
    columns = run_flow(config, lambda: accept_schema(source_table, block))
    line(f"accepted {source_table}: {len(columns)} columns")
