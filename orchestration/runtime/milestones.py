"""What a command has finished so far, for the line that ends it early.

A command cut short by something outside it (its Prefect server lost, see
`orchestration.server.watch`) says what was done and what was not: the flows declare the steps
they will take (`expect`) and mark each as its work ends (`reached`), before Prefect records
the run's state, which needs the server. Plain module state: one command per process.
"""

from __future__ import annotations

import threading

__all__ = [
    "CHECKED",
    "REBUILT",
    "SYNCED",
    "expect",
    "reached",
    "resume_hint",
    "resume_with",
    "summary",
]

# The steps of the pipeline, as the line says them.
SYNCED = "raw data synced"
REBUILT = "marts rebuilt"
CHECKED = "freshness checked"

_lock = threading.Lock()
_plan: list[str] = []
_done: list[str] = []
_resume: list[str] = []


def expect(*steps: str) -> None:
    """The steps this command will take, in order (those already expected are kept)."""
    with _lock:
        _plan.extend(step for step in steps if step not in _plan)


def reached(step: str) -> None:
    """`step` is done (counted only when this command expected it: `dbt build` is the
    marts' rebuild in a pipeline, one of a backfill's ranges in a backfill)."""
    with _lock:
        if step in _plan and step not in _done:
            _done.append(step)


def resume_with(command: str) -> None:
    """How to take up the work again, when it is not running the same command again."""
    with _lock:
        _resume[:] = [command]


def resume_hint(default: str) -> str:
    with _lock:
        return _resume[0] if _resume else default


def summary() -> str:
    """`raw data synced; not done: marts rebuilt, freshness checked`."""
    with _lock:
        left = [step for step in _plan if step not in _done]
        done = "; ".join(_done) if _done else "nothing finished"
        return done + (f"; not done: {', '.join(left)}" if left else "")
