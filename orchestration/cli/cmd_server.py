"""`elt server`: the local Prefect server elt commands share; `elt ui`: its address."""

from __future__ import annotations

import sys

import typer

from orchestration.cli._output import fail, line
from orchestration.cli._policy import guarded, use_local_server

__all__ = ["app", "ui"]

app = typer.Typer(
    help="The local Prefect server elt commands share when no PREFECT_API_URL is set.",
    no_args_is_help=True,
)


@app.command("status")
def status() -> None:
    """Where the local Prefect server runs, and whether its services are failing."""
    from orchestration.server.local_server import home, running, service_failures

    server = guarded(running)
    if server is None:
        line("no local Prefect server is running")
        raise typer.Exit(1)
    line(f"local Prefect server at {server.ui_url} (pid {server.pid})")
    failures = service_failures(server)
    if failures:
        fail(
            f"its log has errors since it started (the last {len(failures)} below; all in "
            f"{home() / 'prefect-server.log'}):\n" + "\n".join(failures)
        )


@app.command("stop")
def stop() -> None:
    """Stop the local Prefect server (the next elt command starts a new one on its port)."""
    from orchestration.server.local_server import processes_left
    from orchestration.server.local_server import stop as stop_server

    stopped = guarded(stop_server)
    if stopped is None:
        line("no local Prefect server was running")
    elif processes_left(stopped):  # killed, yet not ended (stuck in a system call): said as it is
        fail(
            f"the local Prefect server (pid {stopped.pid}) was killed but has not ended yet: "
            f"its port {stopped.port} is free once it has; check with `ps -p {stopped.pid}`"
        )
    else:
        line(f"stopped the local Prefect server at {stopped.ui_url} (pid {stopped.pid})")


def ui() -> None:
    """Print (and open, where a browser is at hand) the Prefect UI the elt commands use."""
    from prefect.settings import get_current_settings

    use_local_server()
    settings = get_current_settings()
    url = settings.ui_url
    if not settings.api.url:
        fail(
            "no Prefect server to show: ELT_LOCAL_SERVER is off and PREFECT_API_URL is not set; "
            "set either"
        )
    if not url:
        fail("no Prefect UI address: set PREFECT_UI_URL (the UI of PREFECT_API_URL)")
    line(url)
    if sys.stdout.isatty():
        import webbrowser

        webbrowser.open(url)
