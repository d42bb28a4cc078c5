"""Where lineage events go, configured the standard OpenLineage way; every event is kept
until it is delivered, and delivery never fails the pipeline nor slows it more than a bound.

Configured means any of: `OPENLINEAGE_URL`, `OPENLINEAGE_CONFIG`, an `openlineage.yml` in the
working directory or `~/.openlineage/`, or `OPENLINEAGE__TRANSPORT__*` variables; the client
library reads them itself. `OPENLINEAGE_DISABLED=true` turns everything off.

Every event is appended to the local log, `ELT_HOME/lineage/events.jsonl` (what `elt lineage`
reads, whatever is configured). With a transport configured, it is also appended to that
destination's outbox (`ELT_HOME/lineage/outbox-<digest>.jsonl`), which a thread delivers in
order from a cursor (`sent-<digest>.json`, moved on as each event is acknowledged; the outbox
is emptied once all of it is): an event that could not be sent stays there and the next command
that reaches the destination sends it first, before its own. So events are
delivered once each and in order, as long as the destination acknowledges what it keeps (an
event in flight when a command gives up on it, to a destination that keeps it without
answering, is the one that can arrive twice). Commands share a destination's cursor under a
file lock: one delivers at a time.

What it costs a command: nothing while it runs (a thread); at its end it waits up to
`FLUSH_SECONDS` for its events to be delivered, then, for an event already in flight, until
that request's end (at most `REQUEST_SECONDS`): a destination that refuses or fails costs no
wait once it has failed, one that accepts and does not answer costs at most
FLUSH_SECONDS + REQUEST_SECONDS. Events left undelivered are one warning on stderr with their
count. The HTTP transport's own retries are off (`urllib3`'s, which resend an event whose answer
was slow and print a warning per attempt): undelivered events are resent by the cursor instead.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FLUSH_SECONDS = 5.0
REQUEST_SECONDS = 10.0  # one delivery's deadline (the transport's own timeout, when longer)
RETRY_SECONDS = (1.0, 30.0)  # a failing destination, tried again: after 1 s, doubling to 30 s
EVENTS_FILE = "lineage/events.jsonl"


def discovered() -> tuple[bool, bool]:
    """`(configured, disabled)` as the OpenLineage client itself decides them: its own
    discovery (`OPENLINEAGE_CONFIG`, `openlineage.yml` here or in `~/.openlineage/`,
    `OPENLINEAGE__*` variables) and its own `OPENLINEAGE_DISABLED` rule. A client given a
    transport resolves none of its own, but still discovers the configuration and still swaps
    the given transport for a no-op one when lineage is disabled; so nothing is sent and no
    "no configuration, printing to the console" warning is logged. Configured means what the
    client resolves before that fallback: a transport with a `type`, or `OPENLINEAGE_URL`."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.noop import NoopConfig, NoopTransport

    given = NoopTransport(NoopConfig())
    probe = OpenLineageClient(transport=given)
    configured = bool(
        (probe.config.transport or {}).get("type") or os.environ.get("OPENLINEAGE_URL")
    )
    return configured, probe.transport is not given


def events_file(home: Path) -> Path:
    """The local event log (what `elt lineage` reads by default)."""
    return home / EVENTS_FILE


def as_line(event: Any) -> str:
    from openlineage.client.serde import Serde

    return json.dumps(json.loads(Serde.to_json(event)), separators=(",", ":"))


class EventLog:
    """A file of events, each one JSON line, appended under a lock on the file (whole lines,
    whatever other command appends at the same time; an outbox is emptied under it too)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, events: Iterable[Any]) -> None:
        self.append_lines([as_line(event) for event in events])

    def append_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, "".join(line + "\n" for line in lines).encode())
            finally:
                os.close(fd)

    def empty_if(self, size: int, before: Callable[[], None]) -> bool:
        """Empty the file when it holds exactly `size` bytes (all of it delivered), calling
        `before` first under the lock (a crash in between then resends, never loses)."""
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDWR)
            except OSError:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_size != size:
                    return False
                before()
                os.ftruncate(fd, 0)
                return True
            finally:
                os.close(fd)


class Delivery:
    """Sends the log's events to one destination (an OpenLineage transport), in order, from
    the destination's cursor. See the module's docstring."""

    def __init__(self, log: EventLog, transport: Any, key: str, destination: str) -> None:
        self.local = log
        self.transport = _without_retries(transport)
        self.destination = destination
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.log = EventLog(log.path.parent / f"outbox-{digest}.jsonl")
        self.cursor = log.path.parent / f"sent-{digest}.json"
        self.failure: str | None = None
        self._sending = threading.Event()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._starting = threading.Lock()  # a request starts, or the last flush closes: not both
        self._thread = threading.Thread(target=self._run, name="elt-lineage", daemon=True)
        self._thread.start()

    def send(self, events: Iterable[Any]) -> None:
        lines = [as_line(event) for event in events]
        self.local.append_lines(lines)
        self.log.append_lines(lines)
        self._wake.set()

    def pending(self) -> int:
        """Events in the log not delivered yet."""
        try:
            with self.log.path.open("rb") as log:
                log.seek(self._offset())
                return log.read().count(b"\n")
        except OSError:
            return 0

    def flush(self, seconds: float = FLUSH_SECONDS, *, last: bool = False) -> bool:
        """Wait up to `seconds` for every event to be delivered; whether all were. The `last`
        flush starts no request after that and waits for one in flight, up to its end."""
        self._wake.set()
        deadline = time.monotonic() + seconds
        while self.pending() and time.monotonic() < deadline:
            if self.failure is not None and not self._sending.is_set():
                break  # failing: no wait for a destination that said no
            time.sleep(0.05)
        if last:
            with self._starting:
                self._closing.set()
            in_flight = time.monotonic() + REQUEST_SECONDS
            while self._sending.is_set() and time.monotonic() < in_flight:
                time.sleep(0.05)
        return self.pending() == 0

    def close(self) -> None:
        """At the command's end: the last flush, then one warning for what waits."""
        delivered = self.flush(last=True)
        left = self.pending()
        if not delivered and left:
            why = f" ({self.failure})" if self.failure else ""
            print(
                f"warning: {left} lineage event(s) wait to be sent to {self.destination}{why};"
                " the next elt command that reaches it sends them first",
                file=sys.stderr,
                flush=True,
            )

    def _size(self) -> int:
        try:
            return self.log.path.stat().st_size
        except OSError:
            return 0

    def _offset(self) -> int:
        try:
            offset = int(json.loads(self.cursor.read_text())["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0
        return offset if offset <= self._size() else self._size()  # cut short: from its end

    def _advance(self, offset: int) -> None:
        partial = self.cursor.with_suffix(".partial")
        partial.write_text(json.dumps({"destination": self.destination, "offset": offset}))
        partial.replace(self.cursor)

    def _run(self) -> None:
        self.cursor.parent.mkdir(parents=True, exist_ok=True)
        with self.cursor.with_suffix(".lock").open("a") as lock:
            while not self._closing.is_set():  # one command delivers at a time
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    self._closing.wait(0.5)
            else:
                return
            self._deliver()

    def _deliver(self) -> None:
        pause = RETRY_SECONDS[0]
        while not self._closing.is_set():
            offset = self._offset()
            line = self._line_at(offset)
            if line is None:
                if offset:  # all delivered: the outbox starts again, empty
                    self.log.empty_if(offset, before=lambda: self._advance(0))
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            with self._starting:
                if self._closing.is_set():
                    return  # the command ends: no request it would not wait for
                self._sending.set()
            try:
                self.transport.emit(json.loads(line))
            except Exception as exc:  # any transport's failure: never the run's
                self.failure = _said(exc)
                self._sending.clear()
                self._closing.wait(pause)
                pause = min(pause * 2, RETRY_SECONDS[1])
                continue
            self._advance(offset + len(line))
            self.failure, pause = None, RETRY_SECONDS[0]
            self._sending.clear()

    def _line_at(self, offset: int) -> bytes | None:
        """The whole line at `offset`, with its newline; None at the end of the log."""
        try:
            with self.log.path.open("rb") as log:
                log.seek(offset)
                line = log.readline()
        except OSError:
            return None
        return line if line.endswith(b"\n") else None


def _said(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:200] + "..."


def _without_retries(transport: Any) -> Any:
    """An HTTP transport with no retries of its own and at least REQUEST_SECONDS to answer."""
    from openlineage.client.transport.http import HttpTransport

    if isinstance(transport, HttpTransport):
        transport.timeout = max(float(transport.timeout or 0), REQUEST_SECONDS)
        transport.config.retry = {"total": 0}
        transport.close()  # a session made with the old settings, if any
    return transport


def destination_name(transport: Any) -> str:
    """The destination, for messages: an HTTP transport's address without credentials."""
    url = getattr(transport, "url", None)
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
    return f"the OpenLineage {getattr(transport, 'kind', 'transport')} transport"


class LocalOnly:
    """The embedded default with no transport configured: the local log only."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def send(self, events: Iterable[Any]) -> None:
        self.log.append(events)

    def flush(self, seconds: float = FLUSH_SECONDS) -> bool:
        return True

    def close(self) -> None:
        return None


Sender = Delivery | LocalOnly


_senders: dict[tuple[str, ...], Sender] = {}
_lock = threading.Lock()


def _configuration(home: Path, embedded: bool) -> tuple[str, ...] | None:
    """What decides where events go now (None: nowhere)."""
    configured, disabled = discovered()
    if disabled:
        return None
    if configured:
        chosen = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("OPENLINEAGE"))
        return ("configured", str(events_file(home).resolve()), *chosen, str(Path.cwd()))
    if embedded:
        return ("file", str(events_file(home).resolve()))
    return None


def sender(home: Path, embedded: bool) -> Sender | None:
    """The sender for the configuration in force (one per configuration in this process), or
    None when lineage is off."""
    key = _configuration(home, embedded)
    if key is None:
        return None
    with _lock:
        if key not in _senders:
            log = EventLog(events_file(home))
            made: Sender
            if key[0] == "configured":
                from openlineage.client import OpenLineageClient

                transport = OpenLineageClient().transport  # may write OPENLINEAGE__ aliases
                made = Delivery(log, transport, "\n".join(key), destination_name(transport))
            else:
                made = LocalOnly(log)
            atexit.register(made.close)
            # the client turns OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__... variables of
            # the process: the same configuration, under the key it now reads as
            for same in {key, _configuration(home, embedded)} - {None}:
                _senders[same] = made  # type: ignore[index]
        return _senders[key]


def flush_all(seconds: float = FLUSH_SECONDS) -> bool:
    """Wait (up to `seconds` each) for every sender's events to be delivered."""
    with _lock:
        senders = list(_senders.values())
    return all(s.flush(seconds) for s in senders)


__all__ = [
    "FLUSH_SECONDS", "REQUEST_SECONDS", "Delivery", "EventLog", "LocalOnly", "Sender",
    "discovered", "events_file", "flush_all", "sender",
]  # fmt: skip
