"""Prefect flows: thin orchestration over the plain functions of the other modules."""

from orchestration.heartbeats import (
    end_runs_without_waiting_for_heartbeats,
    send_heartbeats_by_default,
)
from orchestration.logs import quiet_tracebacks_of_expected_failures

quiet_tracebacks_of_expected_failures()
end_runs_without_waiting_for_heartbeats()
send_heartbeats_by_default()  # so a killed run can be told from a long one
