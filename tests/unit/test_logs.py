"""In an `elt` command, the engine's records of a failure its own `error:` line states stay
off the terminal; a retry notice stays on it (tests/integration/test_cli_inputs.py runs the
commands)."""

from __future__ import annotations

import logging

from orchestration.runtime.logs import ENGINE_FAILURE, DropTracebackOfExpectedFailures


def test_the_engines_failure_records_are_recognised_but_not_a_retry_notice():
    assert ENGINE_FAILURE.match("Task run failed with exception: UserError('x')")
    assert ENGINE_FAILURE.match("Finished in state Failed('connection c error: 404')")
    assert ENGINE_FAILURE.match("Task run failed with state: Failed(message='x', result=...)")
    retry = "Task run failed with exception: TimeoutError() - Retry 1/3 will start 10 second(s)"
    assert not ENGINE_FAILURE.match(retry)
    assert not ENGINE_FAILURE.match("Finished in state Completed()")


def test_outside_a_command_that_says_failures_nothing_is_marked(monkeypatch):
    from orchestration.runtime import logs

    monkeypatch.setitem(logs._settings, "terminal_says_failures", False)  # a worker, say
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, "", 0, "Finished in state "
                               "Failed('x')", None, None)  # fmt: skip
    assert DropTracebackOfExpectedFailures().filter(record)
    assert not getattr(record, "elt_said_by_the_command", False)


def emitted(logger_name: str, level: int, message: str, exc: BaseException | None = None):
    """What a handler of `logger_name`'s parent receives for one record (the filters run)."""
    received: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            received.append(record)

    handler = Keep()
    logging.getLogger("prefect").addHandler(handler)
    try:
        exc_info = (type(exc), exc, exc.__traceback__) if exc else None
        logging.getLogger(logger_name).log(level, message, exc_info=exc_info)
    finally:
        logging.getLogger("prefect").removeHandler(handler)
    return [(r.levelname, r.getMessage(), r.exc_info) for r in received]


def test_a_cancel_reaches_every_handler_at_info_without_a_traceback():
    from prefect.exceptions import CancelledRun

    import orchestration.runtime.logs  # noqa: F401  (installs the filters)

    cancelled = "Finished in state Cancelled('sync of a cancelled: SIGTERM')"
    assert emitted("prefect.task_runs", logging.ERROR, cancelled) == [("INFO", cancelled, None)]
    wrapper = "Engine execution exited with unexpected exception"
    assert emitted("prefect.flow_runs", logging.ERROR, wrapper, CancelledRun("cancelled")) == []
    outer = "Execution of flow run 'x' exited with unexpected exception"
    assert emitted("prefect.engine", logging.ERROR, outer, CancelledRun("cancelled")) == []
    # a failure stays an error, with its traceback
    failed = "Finished in state Failed('boom')"
    assert emitted("prefect.task_runs", logging.ERROR, failed) == [("ERROR", failed, None)]
    (record,) = emitted("prefect.flow_runs", logging.ERROR, wrapper, RuntimeError("boom"))
    assert record[0] == "ERROR" and isinstance(record[2][1], RuntimeError)
