"""The error policy every command shares, and the steps before any work.

A command's failure is one line on stderr (`error: ...`) and an exit status, never a
traceback unless `--debug`:

- `UserError` (input or configuration to fix): its message, exit 1;
- `StepFailed` (a sync, a dbt node, a freshness breach): its message, exit 1 or the wrapped
  tool's own status (`exit_code`, e.g. dbt's 2 for a project it cannot parse);
- the Prefect API not reachable: one line naming its URL, exit 1;
- anything else: its type and first line, exit 1, with a pointer to `--debug`;
- Ctrl-C or SIGTERM (the run ended Cancelled): one line, exit 128 + the signal's number.

See `orchestration.errors` for the hierarchy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import httpx
import typer

from orchestration.cli._output import error, status
from orchestration.errors import ConfigError, StepFailed, UserError, first_line
from orchestration.runtime import collector, interrupts
from orchestration.runtime.ticker import Ticker

if TYPE_CHECKING:
    from orchestration.config import Config

__all__ = ["configure", "guarded", "report_failures", "run_flow", "set_debug", "use_local_server"]

T = TypeVar("T")

_state = {"debug": False}


def set_debug(debug: bool) -> None:
    _state["debug"] = debug
    if debug:
        os.environ["ELT_DEBUG"] = "1"  # dbt's whole output too (see dbt/runner.py)


_loading: Ticker | None = None


def start_loading_ticker() -> None:
    """A line if loading Prefect and dbt (a command's first imports) is slow: a first run after
    install, a cold disk cache or a busy machine takes many seconds before any work."""
    global _loading
    _loading = Ticker(lambda s: f"... still loading Prefect and dbt ({s:.0f}s)", status)
    _loading.__enter__()


def stop_loading_ticker() -> None:
    global _loading
    if _loading is not None:
        _loading.__exit__(None, None, None)
        _loading = None


def guarded(action: Callable[[], T]) -> T:
    """Run `action` under the error policy (see the module's docstring).

    The first action a command runs this way turns the garbage collector back on, the objects
    of the imports so far frozen (see `orchestration.runtime.collector`): every command runs
    its work with it, so a command imports what it needs before its first guarded action."""
    collector.resume()
    stop_loading_ticker()  # the imports are done (see above)
    try:
        return report_failures(action)
    except BaseException as exc:
        if not interrupts.is_interruption(exc):
            raise
        error(f"interrupted ({interrupts.signal_name()}): the run was cancelled")
        raise typer.Exit(interrupts.exit_code()) from None


def report_failures(action: Callable[[], T]) -> T:
    """The policy without the interruption line: for a command that stops on a signal by
    itself (`elt serve`)."""
    collector.resume()
    try:
        return action()
    except (UserError, StepFailed) as exc:
        if _state["debug"]:
            raise
        for text in str(exc).splitlines() or [type(exc).__name__]:
            error(text)
        raise typer.Exit(getattr(exc, "exit_code", 1)) from None
    except Exception as exc:
        if _state["debug"] or interrupts.is_interruption(exc):  # a run cancelled by a signal
            raise
        # the Prefect API, not reachable: a request of ours, or Prefect's check before a run
        if isinstance(exc, httpx.TransportError) or str(exc).startswith("Failed to reach API"):
            from orchestration.config.block_loading import api_unreachable

            error(str(api_unreachable(exc)))
            raise typer.Exit(1) from None
        said = first_line(exc, otherwise="")
        error(f"{type(exc).__name__}: {said} (rerun with --debug for details)")
    raise typer.Exit(1)


def use_local_server() -> None:
    """The shared local Prefect server, when no PREFECT_API_URL is set (started if needed)."""
    from orchestration.server.local_server import use_local_server as use
    from orchestration.server.lost_runs import end_lost_runs

    guarded(lambda: use(status))
    guarded(lambda: end_lost_runs(status))  # runs whose process died: Crashed, not Running


def configure(
    block: str | None,
    overrides: Mapping[str, object] | None = None,
    origins: Mapping[str, str] | None = None,
    *,
    warehouse: bool = False,
    airbyte: bool = False,
    connection_ids: list[str] | None = None,
    uses_server: bool = False,
) -> Config:
    """Load and check the configuration before any work; flag errors name the flag. A command
    that `uses_server` gets the local Prefect server when no Prefect API is configured: after
    the checks (a mistake is said in a second, not after a server's start), unless the
    configuration is in blocks, which live on that server."""
    from orchestration.config import load_config
    from orchestration.config.sources import read_environment
    from orchestration.config.writable import check_writable

    from_blocks = bool(block or guarded(read_environment).get("ELT_BLOCK", "").strip())
    if uses_server and from_blocks:
        use_local_server()

    def check() -> Config:
        config = load_config(block, overrides, origins)
        checks: list[Callable[[], object]] = []
        if airbyte:
            checks.append(lambda: config.require_airbyte(connection_ids))
        if warehouse:
            checks.append(lambda: check_writable(config, config.require_warehouse()))
        elif airbyte:
            checks.append(lambda: check_writable(config))
        typos = config.likely_typos()
        if typos and config.local.elt_strict:
            raise ConfigError("; ".join(typos))
        for typo in typos:
            status(f"warning: {typo} (ELT_STRICT=1 makes this an error)")
        problems = []
        for requirement in checks:
            try:
                requirement()
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("; ".join(problems))
        return config

    config = guarded(check)
    if uses_server and not from_blocks:
        use_local_server()
    return config


def run_flow(config: Config, action: Callable[[], T]) -> T:
    """Run a flow on the configuration already loaded (blocks are not loaded again), with the
    garbage collector back on (see `orchestration.runtime.collector`), without a wait for the
    heartbeat thread at the end (see `orchestration.runtime.heartbeats`), ended in one line if its
    Prefect server is lost (see `orchestration.server.watch`)."""
    from orchestration.config import config_scope
    from orchestration.runtime.heartbeats import end_runs_without_waiting_for_heartbeats
    from orchestration.runtime.logs import terminal_says_failures
    from orchestration.server.watch import watching_prefect_server

    end_runs_without_waiting_for_heartbeats()  # elt's runs end without a heartbeat's wait
    terminal_says_failures()  # its one `error:` line, not the engine's records of it too
    with watching_prefect_server(status), config_scope(config):  # lost: one line, the end
        return guarded(action)
