"""A flow run `elt` runs ends without waiting on its heartbeat thread
(orchestration/runtime/heartbeats.py; the time it saves is measured by bench/dbt_overhead.py),
and still sends heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from orchestration import upstream
from orchestration.runtime.heartbeats import end_runs_without_waiting_for_heartbeats
from tests.conftest import read_events, wait_until


@flow(name="heartbeat-probe")
def probe() -> int:
    return 1


def test_elts_flow_runs_leave_the_heartbeat_thread_unjoined(prefect_api):
    """Fails when Prefect stops calling its heartbeat sender for a flow run, or when our change
    stops reaching it: the engine asks to join the thread, ours makes it not."""
    original = upstream.heartbeat_sender()  # as Prefect ships it
    asked: list[bool] = []

    def spy(engine, join_on_exit=True):
        asked.append(join_on_exit)
        return original(engine, join_on_exit=join_on_exit)

    with upstream.using_heartbeat_sender(spy):
        assert probe() == 1
        assert asked == [True]  # Prefect's synchronous engine joins the thread
        end_runs_without_waiting_for_heartbeats()
        assert probe() == 1
    assert asked == [True, False]  # with ours applied, it does not


def test_a_flow_run_still_sends_its_heartbeat(prefect_api, elt_env):
    since = datetime.now(UTC).isoformat()
    end_runs_without_waiting_for_heartbeats()
    state = probe(return_state=True)
    assert state.is_completed()
    resource = f"prefect.flow-run.{state.state_details.flow_run_id}"

    def heartbeat_seen() -> bool:  # the server persists events asynchronously
        events = read_events("prefect.flow-run.heartbeat", since)
        return any(e["resource"]["prefect.resource.id"] == resource for e in events)

    wait_until(heartbeat_seen, f"a heartbeat event of {resource}", timeout=60)
