"""Our flow runs end without waiting on their heartbeat thread (orchestration/heartbeats.py; the
time it saves is measured by bench/dbt_overhead.py), and still send heartbeats: checked here."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow

import orchestration.flows  # noqa: F401  (applies the heartbeat change to every flow run)
from tests.conftest import read_events


@flow(name="heartbeat-probe")
def probe() -> int:
    return 1


def test_a_flow_run_still_sends_its_heartbeat(prefect_api, elt_env, monkeypatch):
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")
    since = datetime.now(UTC).isoformat()
    state = probe(return_state=True)
    assert state.is_completed()
    resource = f"prefect.flow-run.{state.state_details.flow_run_id}"
    deadline = time.monotonic() + 60  # the server persists events asynchronously
    while True:
        events = read_events("prefect.flow-run.heartbeat", since)
        if any(e["resource"]["prefect.resource.id"] == resource for e in events):
            break
        assert time.monotonic() < deadline, f"no heartbeat event for {resource}: {events}"
        time.sleep(0.5)
