"""`elt serve`: the deployments of prefect.yaml served from this process; `elt prepare`."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli._output import line, status
from orchestration.cli._policy import guarded, report_failures, use_local_server

__all__ = ["prepare", "serve"]


def serve(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Serve only this deployment of prefect.yaml (repeatable)."),
    ] = None,
    stop_within: Annotated[
        float | None,
        typer.Option(
            "--stop-within",
            min=1,
            help="Seconds a Ctrl-C or SIGTERM gives the runs and the schedule pausing before "
            "the process exits anyway [default: ELT_SERVE_STOP_SECONDS, else 25: inside "
            "Kubernetes' 30 s grace period].",
        ),
    ] = None,
) -> None:
    """Serve the deployments of prefect.yaml (same schedules) from this process, no work pool."""
    from orchestration.schedules.serve import serve as serve_deployments
    from orchestration.schedules.serve import serve_stop_seconds

    within = stop_within or guarded(serve_stop_seconds)
    use_local_server()
    received = report_failures(lambda: serve_deployments(only, status, within))
    status(f"stopped serving ({received})")


def prepare(
    embedded: Annotated[
        bool,
        typer.Option(help="Also build the embedded PyAirbyte environment and its connector."),
    ] = False,
) -> None:
    """Install dbt packages and parse the project (and the embedded Airbyte) ahead of runs."""
    from orchestration.cli._prepare import prepare_dbt, prepare_embedded

    line(guarded(prepare_dbt))
    if embedded:
        line(guarded(prepare_embedded))
