"""The local lineage log: every event one JSON line, in order, whole lines whatever else
appends (the delivery to a lineage server: tests/integration/test_lineage_delivery.py)."""

from __future__ import annotations

import threading

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from orchestration.lineage.graph import read_events
from orchestration.lineage.transport import EventLog, LocalOnly


def event(n: int) -> RunEvent:
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-11-30T12:00:00+00:00",
        run=Run(runId=f"0193a4c2-0000-7000-8000-{n:012d}"),
        job=Job(namespace="default", name=f"job-{n}"),
        producer="urn:elt-orchestration",
    )


def test_events_reach_the_log_in_order_one_json_per_line(tmp_path):
    log = tmp_path / "lineage" / "events.jsonl"
    LocalOnly(EventLog(log)).send(event(n) for n in range(5))
    assert [e["job"]["name"] for e in read_events(log)] == [f"job-{n}" for n in range(5)]


def test_writers_at_once_leave_whole_lines(tmp_path):
    log = tmp_path / "events.jsonl"
    writers = [EventLog(log) for _ in range(4)]  # as four commands would

    def write(out: EventLog, first: int) -> None:
        for n in range(first, first + 50):
            out.append([event(n)])

    threads = [threading.Thread(target=write, args=(w, i * 50)) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = sorted(e["job"]["name"] for e in read_events(log))
    assert names == sorted(f"job-{n}" for n in range(200))
