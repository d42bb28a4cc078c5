"""Flows end on a user's mistake or a failed step with its message, not with a traceback.

Prefect's engine logs the whole traceback of any exception a flow raises; a flow that
*returns* a Failed state fails without one. The exception rides in the state, so a caller
(the CLI, a parent flow) still receives the same `UserError` and prints it as one line.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.states import Failed

from orchestration.errors import StepFailed, UserError

F = TypeVar("F", bound=Callable[..., Any])


def fail_quietly_on_user_error(fn: F) -> F:
    """Decorate a flow function (below `@flow`): a UserError or StepFailed becomes a Failed
    state whose message is the error's own."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, StepFailed) as exc:
            return Failed(message=str(exc), data=exc)

    # Prefect reads the parameters' types from the signature: resolve the annotations in the
    # flow's own module, not in this one (where names like `Literal` are not defined).
    wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    wrapper.__annotations__ = typing.get_type_hints(fn)
    return wrapper  # type: ignore[return-value]
