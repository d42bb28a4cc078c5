"""A run's lineage is collected by the run itself: every event it records, however many the
process recorded before or records beside it (the old module list, trimmed at 5,000 events,
gave a long-lived process's later runs a short or empty graph)."""

from __future__ import annotations

import contextvars
import threading
from types import SimpleNamespace

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from orchestration.lineage import record


def events(first: int, count: int) -> list[RunEvent]:
    return [
        RunEvent(
            eventType=RunState.START,
            eventTime="2026-12-06T12:00:00+00:00",
            run=Run(runId=f"0193a4c2-0000-7000-8000-{n:012d}"),
            job=Job(namespace="elt", name=f"job-{n}"),
            producer="urn:elt-orchestration",
        )
        for n in range(first, first + count)
    ]


def test_each_run_gets_all_its_events_past_the_old_limit(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")  # collected, sent nowhere
    config = SimpleNamespace(
        local=SimpleNamespace(elt_home=tmp_path), airbyte=SimpleNamespace(embedded=True)
    )

    def recorded(first: int, count: int) -> None:
        record._send(config, lambda: events(first, count))  # what each step's function calls

    with record.collecting() as first_run:
        recorded(0, 6000)
    with record.collecting() as second_run:
        recorded(6000, 10)
        with record.collecting() as nested:  # a subflow's own, inside its parent's
            recorded(6010, 5)
        context = contextvars.copy_context()  # as Prefect's task runner submits a task
        task = threading.Thread(target=context.run, args=(recorded, 6015, 3))
        task.start()
        task.join()
    recorded(9000, 1)  # outside any run: no collector gets it

    assert len(first_run) == 6000
    assert [e["job"]["name"] for e in second_run] == [f"job-{n}" for n in range(6000, 6018)]
    assert [e["job"]["name"] for e in nested] == [f"job-{n}" for n in range(6010, 6015)]
