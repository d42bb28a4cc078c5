"""In an `elt` command, the engine's records of a failure its own `error:` line states stay
off the terminal; a retry notice stays on it (tests/integration/test_cli_inputs.py runs the
commands)."""

from __future__ import annotations

import logging

from orchestration.logs import ENGINE_FAILURE, DropTracebackOfExpectedFailures


def test_the_engines_failure_records_are_recognised_but_not_a_retry_notice():
    assert ENGINE_FAILURE.match("Task run failed with exception: UserError('x')")
    assert ENGINE_FAILURE.match("Finished in state Failed('connection c error: 404')")
    assert ENGINE_FAILURE.match("Task run failed with state: Failed(message='x', result=...)")
    retry = "Task run failed with exception: TimeoutError() - Retry 1/3 will start 10 second(s)"
    assert not ENGINE_FAILURE.match(retry)
    assert not ENGINE_FAILURE.match("Finished in state Completed()")


def test_outside_a_command_that_says_failures_nothing_is_marked(monkeypatch):
    from orchestration import logs

    monkeypatch.setitem(logs._settings, "terminal_says_failures", False)  # a worker, say
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, "", 0, "Finished in state "
                               "Failed('x')", None, None)  # fmt: skip
    assert DropTracebackOfExpectedFailures().filter(record)
    assert not getattr(record, "elt_said_by_the_command", False)
