"""A logger that goes to the Prefect run log inside a flow or task, and to stderr outside; no
traceback for the failures this project explains in one line; and, in an `elt` command that
prints that line itself, none of the engine's records about the same failure on the terminal
(the run's logs on the Prefect server keep them)."""

from __future__ import annotations

import functools
import logging
import re

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from orchestration.errors import EltError, StepFailed, UserError

# Where Prefect's engine logs an exception a flow or task raised, with its whole traceback.
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def get_logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("elt")


_settings = {"terminal_says_failures": False}


def _error_names(root: type[BaseException]) -> set[str]:
    return {root.__name__}.union(*(_error_names(sub) for sub in root.__subclasses__()))


@functools.cache
def _explained_failure() -> re.Pattern[str]:
    """The engine's words for a run that ended on one of our errors: "... exception:
    UserError(...)", "Failed('... exception StepFailed: ...')"."""
    names = "|".join(sorted(_error_names(EltError)))
    return re.compile(rf"\b({names})[(:]")


# The engine's records of a run that ended Failed (the command's error line says why); not
# those of an attempt that will be retried ("... - Retry 1/3 will start in 10 seconds").
ENGINE_FAILURE = re.compile(
    r"^(Task run failed with (state|exception)|Finished in state Failed|"
    r"Encountered exception during execution)(?!.*\bRetry \d+/\d+ will start)",
    re.DOTALL,
)
# `extra=` of a record of ours that the command's error line repeats (kept in the run's logs).
SAID_BY_THE_COMMAND = {"elt_said_by_the_command": True}


class DropTracebackOfExpectedFailures(logging.Filter):
    """A UserError or StepFailed already says what went wrong and what to do: keep the
    engine's one line about it (flow run logs) and drop the traceback. Raising, not returning
    a Failed state, keeps Prefect's retries working. In a command that prints the failure
    itself (`terminal_says_failures`), the record is also marked for the terminal's filter."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, UserError | StepFailed):
            record.exc_info = None
            record.exc_text = None
        if _settings["terminal_says_failures"] and (
            getattr(record, "elt_said_by_the_command", False)
            or isinstance(exc, EltError)
            or ENGINE_FAILURE.match(record.getMessage())
            or _explained_failure().search(record.getMessage())
        ):
            record.elt_said_by_the_command = True
            _filter_the_terminal()
        return True


class DropWhatTheCommandSays(logging.Filter):
    """On the terminal only: the records the command's own `error:` line replaces."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "elt_said_by_the_command", False)


def _filter_the_terminal() -> None:
    """Prefect sets its terminal handler up lazily: the filter joins it when first needed."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        already = any(isinstance(f, DropWhatTheCommandSays) for f in handler.filters)
        if isinstance(handler, PrefectConsoleHandler) and not already:
            handler.addFilter(DropWhatTheCommandSays())


def terminal_says_failures() -> None:
    """For an `elt` command that ends with one `error:` line of its own: the engine's records
    of the same failure stay off the terminal (they still reach the run's logs)."""
    _settings["terminal_says_failures"] = True


def quiet_tracebacks_of_expected_failures() -> None:
    """Install the filter on the engine's loggers (once)."""
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTracebackOfExpectedFailures) for f in logger.filters):
            logger.addFilter(DropTracebackOfExpectedFailures())
