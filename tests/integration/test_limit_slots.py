"""A slot of a global concurrency limit, on the session's real Prefect server: the wait for
one is bounded and says which limit and who holds it; the lease is kept through an outage of
the Prefect API; the slot is given back through one, or else left to its lease with a
warning, never failing finished work; `repair` frees what an ended run could not give back."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from prefect import flow, task
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

import orchestration.limits.renewal as lease
from orchestration.errors import SlotWaitTimedOut
from orchestration.limits import LEASE_SECONDS, fleet_slot, repair
from tests.conftest import wait_until
from tests.servers import TcpProxy


def new_limit(api: str, size: int = 1) -> str:
    name = f"test-limit-{uuid.uuid4().hex[:8]}"
    httpx.post(
        f"{api}/v2/concurrency_limits/", json={"name": name, "limit": size}
    ).raise_for_status()
    return name


def active_slots(api: str, name: str) -> int:
    return httpx.get(f"{api}/v2/concurrency_limits/{name}").json()["active_slots"]


def records(api: str, name: str) -> list[dict]:
    """The holder records of `name` (Prefect variables)."""
    response = httpx.post(
        f"{api}/variables/filter",
        json={"variables": {"tags": {"all_": ["elt-slot", f"limit:{name}"]}}},
    )
    return [variable["value"] for variable in response.json()]


@pytest.fixture
def proxied_api(prefect_api: str) -> Iterator[TcpProxy]:
    """The session's Prefect API through a proxy the test can cut, with Prefect's own client
    retries off (so an outage is met by ours)."""
    proxy = TcpProxy(urlsplit(prefect_api).port or 80)
    try:
        with temporary_settings({PREFECT_API_URL: proxy.url(), PREFECT_CLIENT_MAX_RETRIES: 0}):
            yield proxy
    finally:
        proxy.close()


def test_a_wait_for_a_slot_is_bounded_and_names_the_limit_and_its_holder(prefect_api, caplog):
    caplog.set_level(logging.INFO, logger="elt")
    name = new_limit(prefect_api)
    with fleet_slot(name, "the first run"):
        (held,) = records(prefect_api, name)
        assert held["what"] == "the first run"
        started = time.monotonic()
        with pytest.raises(SlotWaitTimedOut) as err, fleet_slot(name, "sync X", wait_seconds=2):
            pytest.fail("got a slot of a full limit")
        waited = time.monotonic() - started
    assert str(err.value) == (
        f"sync X: no slot of the global concurrency limit '{name}' came within 2 s "
        "(ELT_LIMIT_WAIT_SECONDS): every slot is held; see who holds them with `elt limits "
        "show`, free the ones of ended runs with `elt limits repair`"
    )
    assert waited >= 2
    said = [r.getMessage() for r in caplog.records if "waiting for a slot" in r.getMessage()]
    assert said == [  # once, with who holds the slots
        f"sync X: waiting for a slot of the global concurrency limit '{name}' (1 of its 1 "
        "slots held by other runs: the first run), for at most 2 s"
    ]
    assert active_slots(prefect_api, name) == 0  # the first run's slot went back as it ended
    assert records(prefect_api, name) == []
    assert "Service 'ConcurrencySlotAcquisition" not in caplog.text  # no service noise


def test_a_slot_is_given_back_through_an_outage(prefect_api, proxied_api, caplog, monkeypatch):
    monkeypatch.setattr(lease, "RETRY_SECONDS", 0.5)
    caplog.set_level(logging.INFO, logger="elt")
    name = new_limit(prefect_api)
    slot = fleet_slot(name, "sync X")
    slot.__enter__()
    assert active_slots(prefect_api, name) == 1
    proxied_api.down()
    threading.Timer(2, proxied_api.up).start()
    slot.__exit__(None, None, None)
    assert active_slots(prefect_api, name) == 0
    assert records(prefect_api, name) == []
    assert f"sync X: its slot of '{name}' given back after " in caplog.text, caplog.text


def test_finished_work_never_fails_because_the_slot_could_not_be_given_back(
    prefect_api, proxied_api, caplog, monkeypatch
):
    monkeypatch.setattr(lease, "RETRY_SECONDS", 0.5)
    monkeypatch.setattr(lease, "RELEASE_SECONDS", 2)
    caplog.set_level(logging.WARNING, logger="elt")
    name = new_limit(prefect_api)
    slot = fleet_slot(name, "sync X")
    slot.__enter__()
    proxied_api.down()  # the API is gone as the work ends, and stays gone
    slot.__exit__(None, None, None)  # no exception: the work's outcome stands
    assert (
        f"sync X finished, but its slot of '{name}' could not be given back within 2 s ("
        in caplog.text
    ), caplog.text
    assert f"when its lease expires, within {LEASE_SECONDS:.0f} s" in caplog.text
    assert active_slots(prefect_api, name) == 1  # said as it is: still held, until its lease ends
    assert len(records(prefect_api, name)) == 1


def test_the_lease_is_kept_through_an_outage(prefect_api, proxied_api, caplog, monkeypatch):
    monkeypatch.setattr(lease, "RENEW_SECONDS", 0.5)
    monkeypatch.setattr(lease, "RETRY_SECONDS", 0.3)
    caplog.set_level(logging.INFO, logger="elt")
    name = new_limit(prefect_api)
    with fleet_slot(name, "sync X"):
        proxied_api.down()
        wait_until(lambda: "could not be renewed" in caplog.text, "a renewal failed")
        proxied_api.up()
        wait_until(lambda: "renewed again" in caplog.text, "the lease renewed after the outage")
        assert active_slots(prefect_api, name) == 1
    assert active_slots(prefect_api, name) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per outage, not once per attempt
    assert warnings[0].startswith(f"sync X: the lease of its slot of '{name}' could not be")


def test_repair_frees_the_slot_an_ended_run_could_not_give_back(
    prefect_api, proxied_api, monkeypatch
):
    """A run's release met an outage and gave up; the run ended. `repair` gives its lease back
    (once: the slot is not freed twice) and leaves a live run's slot alone."""
    monkeypatch.setattr(lease, "RETRY_SECONDS", 0.2)
    monkeypatch.setattr(lease, "RELEASE_SECONDS", 0.5)
    name = new_limit(prefect_api, size=2)

    @task
    def sync_x() -> None:
        with fleet_slot(name, "sync X"):
            proxied_api.down()  # the outage starts as the work ends...
        proxied_api.up()  # ...and is over once the release has given up

    @flow
    def ended_run() -> None:
        sync_x()

    ended_run()
    assert active_slots(prefect_api, name) == 1  # leaked, until its lease would expire
    (leaked,) = records(prefect_api, name)
    assert leaked["flow_run_id"] and leaked["task_run_id"]

    with fleet_slot(name, "a live run"):  # recorded, outside any run: never freed
        (repaired,) = repair([name])
        assert (repaired.in_use, repaired.gone, repaired.freed) == (2, 1, 0)
        assert [h.what for h in repaired.held] == ["a live run"]
        assert repaired.summary() == (
            f"{name}: gave back the leases of 1 holder(s) gone; 1 slot held by live runs: "
            "a live run"
        )
        assert active_slots(prefect_api, name) == 1
        assert [r["what"] for r in records(prefect_api, name)] == ["a live run"]
    assert active_slots(prefect_api, name) == 0


def test_a_holder_whose_task_run_the_server_has_not_recorded_is_alive_while_its_flow_runs(
    prefect_api,
):
    """The server records task runs from their events, after the client made them, and loses
    those in flight when it restarts with in-memory messaging: while the holder's flow run
    runs, `repair` keeps its slot. A holder outside any flow whose task run is unknown is
    gone (as a deleted run)."""
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Running

    from orchestration.limits.holders import Holder, record

    @flow
    def holding() -> None: ...

    name = new_limit(prefect_api, size=2)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(holding, state=Running())
        for what, flow_run in (("in a running flow", run), ("a task alone", None)):
            taken = client.increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
            ).json()
            record(client, Holder(
                limit=name, lease_id=uuid.UUID(taken["lease_id"]), what=what,
                task_run_id=uuid.uuid4(),  # never recorded by the server
                flow_run_id=flow_run and flow_run.id, flow_run_name=flow_run and flow_run.name,
                since=datetime.now(UTC), renew_seconds=1.0,
            ))  # fmt: skip
    (repaired,) = repair([name])
    assert [h.what for h in repaired.held] == ["in a running flow"]
    assert (repaired.in_use, repaired.gone) == (2, 1)
    assert active_slots(prefect_api, name) == 1
    # no holder left behind on the session's server: its flow ends, repair gives its slot back
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Completed(), force=True)
    repair([name])
