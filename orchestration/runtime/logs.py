"""A logger that goes to the Prefect run log inside a flow or task, and to stderr outside; no
traceback for the failures this project explains in one line; and, in an `elt` command that
prints that line itself, none of the engine's records about the same failure on the terminal
(the run's logs on the Prefect server keep them)."""

from __future__ import annotations

import functools
import logging
import re

from prefect.exceptions import CancelledRun, MissingContextError
from prefect.logging import get_run_logger

from orchestration.errors import EltError, StepFailed, UserError

# Where Prefect's engine logs an exception a flow or task raised, with its whole traceback
# (`prefect.engine`: the deployed run's process, around the whole run).
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")


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


# The engine's record of a task run that ended Cancelled: Prefect logs every final state but
# Completed at ERROR (task_engine's `log_finished_message`); a cancel is what somebody asked for.
ENGINE_CANCEL = re.compile(r"^Finished in state Cancelled\(")
# The deployed run's wrapper around a flow that returned Cancelled: its result raises
# CancelledRun, which the engine logs as "... exited with unexpected exception" with a traceback.
ENGINE_WRAPPER = re.compile(r"exited with unexpected exception")


class CancelIsNotAnError(logging.Filter):
    """A run ended Cancelled by the UI, the CLI, a signal or a concurrency policy: the engine's
    record of it is INFO (as Prefect's flow engine already logs it) without a traceback, and
    its wrapper's "unexpected exception" about it is dropped (the run's "Finished in state
    Cancelled" says it all), for every handler: the run's logs on the server, the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        cancelled = isinstance(record.exc_info[1] if record.exc_info else None, CancelledRun)
        if cancelled and ENGINE_WRAPPER.search(record.getMessage()):
            return False
        if record.levelno > logging.INFO and (
            cancelled or ENGINE_CANCEL.match(record.getMessage())
        ):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.exc_info = record.exc_text = None
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


def install_engine_log_filters() -> None:
    """Install the filters on the engine's loggers (once). A logger's own filters see a record
    before any handler does, so the record every handler gets is already the filtered one."""
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        for kind in (CancelIsNotAnError, DropTracebackOfExpectedFailures):
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())


# Here, not in orchestration.flows: Prefect loads a deployment's entrypoint file as a script
# (`load_script_as_module`), so a deployed run never imports that package; every flow imports
# this module, directly or through the modules it uses.
install_engine_log_filters()
