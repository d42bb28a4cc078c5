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


def test_the_quiet_before_a_ticker_started_counts_once_the_terminal_is_watched(monkeypatch):
    """In `elt`, the terminal is watched (`listen`): a ticker started 10 s after the last line
    anyone printed speaks at once, not `every` seconds later; a line printed by anyone while it
    runs (Prefect's logs) starts the quiet again."""
    import io
    import sys

    from orchestration.runtime import ticker

    monkeypatch.setattr(ticker, "_heard", [None])
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    ticker.listen()
    print("the last line the user saw")
    assert ticker.last_heard() is not None and sys.stdout.getvalue().endswith("saw\n")
    monkeypatch.setattr(ticker, "_heard", [time.monotonic() - 10])  # ten seconds ago

    lines: list[str] = []
    started = time.monotonic()
    with Ticker(lambda seconds: "still working", lines.append, every=3):
        wait_until(lambda: lines, "the ticker's first line", timeout=30, interval=0.01)
        first_after = time.monotonic() - started
        print("a line of somebody else's")  # the quiet starts again: nothing for 3 s
        said = len(lines)
        time.sleep(0.5)
        assert len(lines) == said
    assert first_after < 2.5  # at once, not after `every` (3 s): only a frozen machine fails


def test_without_a_watched_terminal_each_ticker_counts_from_its_own_start(monkeypatch):
    from orchestration.runtime import ticker

    monkeypatch.setattr(ticker, "_heard", [None])  # a deployed run's process, a test's
    lines: list[str] = []
    with Ticker(lambda seconds: "still working", lines.append, every=1):
        time.sleep(0.3)
    assert lines == []


def test_a_connector_that_only_reports_events_still_gets_progress_lines(tmp_path, monkeypatch):
    """The embedded sync reads the connector's events (a phase changed) without showing them:
    reading one is not saying something, so the quiet lines keep coming. The connector here
    reports an event every 50 ms until a progress line has been shown (or its 60 s are up)."""
    import logging
    import sys

    from orchestration.airbyte import pyairbyte
    from orchestration.runtime import ticker

    monkeypatch.setattr(ticker, "QUIET_SECONDS", 0.3)
    shown = tmp_path / "shown"

    class Shown(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "still discovering" in record.getMessage():
                shown.touch()

    connector = (
        "import json, pathlib, sys, time\n"
        "deadline = time.monotonic() + 60\n"
        f"while not pathlib.Path({str(shown)!r}).exists() and time.monotonic() < deadline:\n"
        "    print(json.dumps({'event': 'discovering'}), flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    logger = logging.getLogger("elt")
    handler = Shown()
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        events = list(
            pyairbyte._stream(
                [sys.executable, "-c", connector], env={}, phase="discovering", json_events=True
            )
        )
    finally:
        logger.removeHandler(handler)
    assert events and shown.exists(), "no progress line while the connector only sent events"
