"""A ticker says where blocked work stands, and stays quiet while the work talks itself."""

from __future__ import annotations

import time

from orchestration.runtime.ticker import Ticker
from tests.conftest import wait_until


def test_blocked_work_gets_lines_that_say_how_long_it_has_taken():
    lines: list[str] = []
    with Ticker(lambda seconds: f"still parsing ({seconds:.1f}s)", lines.append, every=0.05):
        wait_until(lambda: len(lines) >= 3, "three lines from the ticker", timeout=30)
    count = len(lines)
    assert all(line.startswith("still parsing (") for line in lines), lines
    seconds = [float(line.split("(")[1].rstrip("s)")) for line in lines]
    assert seconds == sorted(seconds) and seconds[0] > 0
    time.sleep(0.2)  # stopped: nothing more comes, whatever the time
    assert len(lines) == count


def test_work_that_talks_itself_gets_no_ticker_line():
    lines: list[str] = []
    ticker = Ticker(lambda seconds: "still working", lines.append, every=2)
    with ticker:
        deadline = time.monotonic() + 2.5  # past `every`, but the work has said something
        while time.monotonic() < deadline:
            ticker.said()
            time.sleep(0.1)
    assert lines == []


def test_a_step_that_must_not_slow_down_keeps_its_pace_past_the_long_step_mark(monkeypatch):
    from orchestration.runtime import ticker

    monkeypatch.setattr(ticker, "LONG_STEP_SECONDS", 0.1)  # every step is long at once
    lines: list[str] = []
    with Ticker(lambda seconds: f"({seconds:.2f}s)", lines.append, every=0.05, slows_down=False):
        wait_until(lambda: len(lines) >= 5, "lines past the long-step mark", timeout=30)
    assert float(lines[-1].strip("(s)")) > 0.1
