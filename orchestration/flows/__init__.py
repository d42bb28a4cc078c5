"""Prefect flows: thin orchestration over the plain functions of the other modules."""

from orchestration.logs import quiet_tracebacks_of_expected_failures

quiet_tracebacks_of_expected_failures()
