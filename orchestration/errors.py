"""Errors a user can cause and fix: they print as one line, never as a traceback."""


class UserError(Exception):
    """A problem with configuration or input; the message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A setting is missing or invalid."""


class StepFailed(Exception):
    """A pipeline step ran and failed (a sync, a dbt node, a freshness breach)."""
