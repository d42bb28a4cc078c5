"""A line while slow work is silent: a user never waits long without one."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

# A user waits at most this long without a line, whatever the work; past the first minute of
# one step (a long model, a big sync), a line every half minute keeps run logs readable.
QUIET_SECONDS = 3.0
LONG_STEP_SECONDS, LONG_STEP_EVERY = 60.0, 30.0

# When the terminal last got a line, once `listen()` watches it (an `elt` process); None where
# nothing watches (a deployed run's process, the tests' own): each ticker then counts alone.
_heard: list[float | None] = [None]


def last_heard() -> float | None:
    return _heard[0]


class _Listened:
    """A terminal stream that notes when a line was last written to it (any writer: our
    lines, Prefect's logs, a warning)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if "\n" in text:
            _heard[0] = time.monotonic()
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def listen() -> None:
    """Watch stdout and stderr, so that the quiet a ticker measures starts at the last line the
    user saw, not at the ticker's start: the work before a ticker (a task run being created on
    a loaded machine) is part of the wait. Call it before anything keeps a reference to them."""
    if _heard[0] is None:
        _heard[0] = time.monotonic()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Listened):
            setattr(sys, name, _Listened(stream))


class Ticker:
    """Says where long work stands when nothing else has been said for `every` seconds
    (`QUIET_SECONDS` unless told).

    `describe(seconds)` gives the line, from the seconds since the ticker started; the work
    calls `said()` whenever it prints a line of its own. A thread, so the line comes even while
    the work blocks (a subprocess, a server starting, dbt parsing). After `LONG_STEP_SECONDS`
    the lines come every `LONG_STEP_EVERY` seconds instead, unless `slows_down` is False (a
    step of the first `make run`, whose user watches every second of it). Once `listen()`
    watches the terminal, any line on it counts as said, and so does the quiet before the
    ticker started."""

    def __init__(
        self,
        describe: Callable[[float], str],
        say: Callable[[str], object],
        every: float | None = None,
        slows_down: bool = True,
    ) -> None:
        self.describe = describe
        self.say = say
        self.every = QUIET_SECONDS if every is None else every  # read now: tests shorten it
        self.slows_down = slows_down
        self._started = self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="elt-ticker", daemon=True)

    def said(self) -> None:
        self._last = time.monotonic()

    def _quiet_since(self) -> float:
        heard = _heard[0]
        return self._last if heard is None else max(self._last, heard)

    def _interval(self) -> float:
        long = self.slows_down and time.monotonic() - self._started >= LONG_STEP_SECONDS
        return max(self.every, LONG_STEP_EVERY) if long else self.every

    def _run(self) -> None:
        while not self._stop.wait(
            max(0.05, self._quiet_since() + self._interval() - time.monotonic())
        ):
            now = time.monotonic()
            if now - self._quiet_since() >= self._interval():
                self._last = now
                try:
                    self.say(self.describe(now - self._started))
                except Exception:  # a progress line never fails the work
                    logging.getLogger("elt").debug("ticker line failed", exc_info=True)

    def __enter__(self) -> Ticker:
        self._started = self._last = time.monotonic()
        heard = _heard[0]
        if heard is not None:  # the quiet began with the terminal's last line
            self._last = min(self._last, heard)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


__all__ = [
    "LONG_STEP_EVERY",
    "LONG_STEP_SECONDS",
    "QUIET_SECONDS",
    "Ticker",
    "last_heard",
    "listen",
]
