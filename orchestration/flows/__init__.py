"""Prefect flows: thin orchestration over the plain functions of the other modules.

Their engine logs a UserError or StepFailed in one line, without the traceback (a logging
filter, set here because a worker's flow run imports nothing of ours before its flow)."""

from orchestration.logs import quiet_tracebacks_of_expected_failures

quiet_tracebacks_of_expected_failures()
