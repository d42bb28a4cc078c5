"""Errors a user can cause and fix: they print as one line, never as a traceback."""


class UserError(Exception):
    """A problem with configuration or input; the message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A setting is missing or invalid."""


class StepFailed(Exception):
    """A pipeline step ran and failed (a sync, a dbt node, a freshness breach).

    `exit_code` is what `elt` exits with: 1, or the wrapped tool's own status where it has
    one (dbt exits 2 when it could not run at all, e.g. a project that does not parse)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a
    one-line report or warning quotes of it."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
