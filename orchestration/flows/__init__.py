"""Prefect flows: thin orchestration over the plain functions of the other modules.

Their engine logs a UserError or StepFailed in one line, without the traceback, and a cancel
at INFO, not ERROR: logging filters `orchestration.runtime.logs` installs when it is imported."""
