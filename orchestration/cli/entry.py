"""The `elt` entry point, apart from the commands: it takes Ctrl-C from its first moment.

Importing the commands (typer, click, rich and our modules) takes a few tenths of a second;
a signal then would be Python's own KeyboardInterrupt, a traceback. So the entry point installs
the signal handlers first, then imports and runs the root command. A failure that escapes the
commands once the process was told to stop (a signal that landed in an import: Prefect's or
pydantic's code wraps it in its own error) is the interruption's doing: one line, exit 128 + the
signal's number, as when it lands in a run.
"""

from __future__ import annotations

import sys

from orchestration.runtime import collector, interrupts, process_defaults, ticker

__all__ = ["main"]


def main() -> None:
    """`elt`. The garbage collector waits until the imports are done (the first guarded action
    of every command resumes it) and skips its exit pass (see `orchestration.runtime.collector`)."""
    process_defaults.apply_to_environment()  # before anything imports Prefect
    collector.pause_for_imports()
    interrupts.install()
    ticker.listen()  # before Prefect's log handlers take the streams
    try:
        from orchestration.cli._policy import start_loading_ticker, stop_loading_ticker

        start_loading_ticker()
        try:
            from orchestration.cli.main import app

            app()
        finally:
            stop_loading_ticker()
            collector.skip_at_exit()
    except SystemExit:
        raise
    except BaseException:
        if not interrupts.STOP.is_set():
            raise
        from orchestration.cli._output import error

        error(f"interrupted ({interrupts.signal_name()}) before any run started")
        sys.exit(interrupts.exit_code())
