"""A logger that goes to the Prefect run log inside a flow or task, and to stderr outside; and
no traceback for the failures this project explains in one line."""

from __future__ import annotations

import logging

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from orchestration.errors import StepFailed, UserError

# Where Prefect's engine logs an exception a flow or task raised, with its whole traceback.
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def get_logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("elt")


class DropTracebackOfExpectedFailures(logging.Filter):
    """A UserError or StepFailed already says what went wrong and what to do: keep the
    engine's one line about it (terminal and flow run logs) and drop the traceback. Raising,
    not returning a Failed state, keeps Prefect's retries working."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, UserError | StepFailed):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_tracebacks_of_expected_failures() -> None:
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTracebackOfExpectedFailures) for f in logger.filters):
            logger.addFilter(DropTracebackOfExpectedFailures())
