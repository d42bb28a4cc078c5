"""A slot of a global concurrency limit, on the session's real Prefect server: the wait for
one is bounded and says which limit, and finished work never fails because the Prefect API
could not take the slot back."""

from __future__ import annotations

import logging
import time
import uuid

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from orchestration.limits import LEASE_SECONDS, SlotWaitTimedOut, fleet_slot


def new_limit(api: str, size: int = 1) -> str:
    name = f"test-limit-{uuid.uuid4().hex[:8]}"
    httpx.post(
        f"{api}/v2/concurrency_limits/", json={"name": name, "limit": size}
    ).raise_for_status()
    return name


def active_slots(api: str, name: str) -> int:
    return httpx.get(f"{api}/v2/concurrency_limits/{name}").json()["active_slots"]


def test_a_wait_for_a_slot_is_bounded_and_names_the_limit(prefect_api, caplog):
    caplog.set_level(logging.INFO, logger="elt")
    name = new_limit(prefect_api)
    with fleet_slot(name, "the first run"):
        started = time.monotonic()
        with pytest.raises(SlotWaitTimedOut) as err, fleet_slot(name, "sync X", wait_seconds=2):
            pytest.fail("got a slot of a full limit")
        waited = time.monotonic() - started
    assert str(err.value) == (
        f"sync X: no slot of the global concurrency limit '{name}' came within 2 s "
        "(ELT_LIMIT_WAIT_SECONDS): every slot is held; see who holds them with `elt limits show`"
    )
    assert waited >= 2
    said = [r.getMessage() for r in caplog.records if "waiting for a slot" in r.getMessage()]
    assert said == [  # once, with who holds the slots
        f"sync X: waiting for a slot of the global concurrency limit '{name}' (1 of its 1 "
        "slots held by other runs), for at most 2 s"
    ]
    assert active_slots(prefect_api, name) == 0  # the first run's slot went back as it ended


def test_finished_work_never_fails_because_the_slot_could_not_be_released(prefect_api, caplog):
    caplog.set_level(logging.WARNING, logger="elt")
    name = new_limit(prefect_api)
    slot = fleet_slot(name, "sync X")
    slot.__enter__()
    assert active_slots(prefect_api, name) == 1
    unreachable = {PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}
    with temporary_settings(unreachable):  # the API is gone as the work ends
        slot.__exit__(None, None, None)  # no exception: the work's outcome stands
    assert f"sync X finished, but its slot of '{name}' could not be released (" in caplog.text, (
        caplog.text
    )
    assert f"within {LEASE_SECONDS:.0f} s" in caplog.text
    assert active_slots(prefect_api, name) == 1  # said as it is: still held, until its lease ends
