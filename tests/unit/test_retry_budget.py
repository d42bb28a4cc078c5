"""The shipped retry policy of the Airbyte client, in numbers: how long its attempts last
before it gives up. The outage test (tests/unit/test_airbyte_client.py) proves with a
scaled-down policy that polling a running job outlasts any such budget; this checks that the
shipped policy gives up within half a minute: a longer outage is outlasted only by the
deadline, the mechanism the outage test proves."""

from __future__ import annotations

import random

import pytest

from orchestration.airbyte.client import AirbyteClient, RetryPolicy
from orchestration.errors import AirbyteTransientError


def slept_before_giving_up(policy: RetryPolicy) -> list[float]:
    """Every backoff the client sleeps before it gives up on a request, jitter at its longest."""
    slept: list[float] = []
    fault = AirbyteTransientError("connection refused", request_sent=False)
    with AirbyteClient("http://127.0.0.1:9", retry=policy, sleep=slept.append) as client:
        attempt = 1
        with pytest.raises(AirbyteTransientError, match="gave up after 6 attempts"):
            while True:
                client.backoff_or_raise(attempt, fault)
                attempt += 1
    return slept


def test_the_shipped_retries_give_up_within_31_seconds_so_a_35_second_outage_needs_the_deadline(
    monkeypatch,
):
    monkeypatch.setattr(random, "random", lambda: 1.0)  # the longest jitter
    slept = slept_before_giving_up(RetryPolicy())
    assert slept == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert sum(slept) == 31.0
