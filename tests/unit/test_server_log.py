"""Reading a Prefect server's log for failures (`elt server status`, and every test server)."""

from __future__ import annotations

from orchestration.server.local_server import SQLITE_CONTENTION, problem_lines

LOG = """\
12:00:00.000 | INFO    | prefect.server.services.scheduler - Scheduled 3 runs.
12:00:05.000 | ERROR   | prefect.server.services.scheduler - Unexpected error in: Scheduler
Traceback (most recent call last):
  File "prefect/server/models/deployments.py", line 1, in _insert_scheduled_flow_runs
    await session.execute(insert)
sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement
12:00:06.000 | ERROR   | prefect.server - Encountered error during state validation
Traceback (most recent call last):
  File "aiosqlite/core.py", line 1, in _execute
sqlite3.OperationalError: database is locked
[SQL: UPDATE task_run SET state_id=?]
12:00:07.000 | WARNING | prefect.server - slow query
Exception in thread Thread-3:
Traceback (most recent call last):
  File "threading.py", line 1, in run
RuntimeError: a thread died
ERROR:    Exception in ASGI application
"""


def test_each_error_record_and_bare_traceback_is_one_line_with_its_exception():
    assert problem_lines(LOG) == [
        "12:00:05.000 | ERROR   | prefect.server.services.scheduler - Unexpected error in: "
        "Scheduler ... sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement",
        "12:00:06.000 | ERROR   | prefect.server - Encountered error during state validation "
        "... [SQL: UPDATE task_run SET state_id=?]",
        "Traceback (most recent call last): ... RuntimeError: a thread died",
        "ERROR:    Exception in ASGI application",
    ]


def test_an_ignored_pattern_anywhere_in_a_record_leaves_it_out():
    kept = problem_lines(LOG, ignored=[SQLITE_CONTENTION])
    assert len(kept) == 3 and not any("state validation" in line for line in kept)
