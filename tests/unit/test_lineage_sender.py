"""The lineage sender: a lineage server that cannot be reached costs one warning, and the
events after the first failure are dropped, never tried one timeout each."""

from __future__ import annotations

import logging

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from orchestration.lineage.graph import read_events
from orchestration.lineage.transport import FileClient, Sender
from tests.fakes.s3 import free_port


def event(n: int) -> RunEvent:
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-11-30T12:00:00+00:00",
        run=Run(runId=f"0193a4c2-0000-7000-8000-{n:012d}"),
        job=Job(namespace="default", name=f"job-{n}"),
        producer="urn:elt-orchestration",
    )


def test_an_unreachable_server_is_one_warning_and_the_rest_is_dropped(caplog):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = {"transport": {"type": "http", "url": url, "timeout": 1, "retry": {"total": 0}}}
    sender = Sender(OpenLineageClient(config=config))
    with caplog.at_level(logging.WARNING):
        sender.send(event(n) for n in range(10))
        assert sender.flush(seconds=30)
    assert (sender.sent, sender.dropped) == (0, 10)
    warnings = [r.getMessage() for r in caplog.records if "not being sent" in r.getMessage()]
    assert len(warnings) == 1 and "check OPENLINEAGE_URL" in warnings[0], warnings


def test_events_reach_the_file_in_order_one_json_per_line(tmp_path):
    log = tmp_path / "lineage" / "events.jsonl"
    sender = Sender(FileClient(log))
    sender.send(event(n) for n in range(5))
    assert sender.flush(seconds=30)
    assert [e["job"]["name"] for e in read_events(log)] == [f"job-{n}" for n in range(5)]
    assert sender.sent == 5
