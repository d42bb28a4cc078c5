"""Prefect flows, one module per deployment of `prefect.yaml`, each named after its flow: a thin
`@flow` over the tasks of `orchestration.tasks` and the plain functions below them. No flow
module imports another, but `full_pipeline` its subflows (an import-linter contract).

Their engine logs a UserError or StepFailed in one line, without the traceback, and a cancel
at INFO, not ERROR: logging filters `orchestration.runtime.logs` installs when it is imported."""
