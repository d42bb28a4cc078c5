"""Where lineage events go, configured the standard OpenLineage way, and a sender that never
fails or slows the pipeline.

Configured means any of: `OPENLINEAGE_URL`, `OPENLINEAGE_CONFIG`, an `openlineage.yml` in the
working directory or `~/.openlineage/`, or `OPENLINEAGE__TRANSPORT__*` variables; the client
library reads them itself. `OPENLINEAGE_DISABLED=true` turns everything off. With nothing
configured, lineage is off, except on the embedded default (no Airbyte server), which appends
to `ELT_HOME/lineage/events.jsonl` so that `elt lineage` works out of the box.

Sending happens on a background thread: a lineage server that is down or slow costs a run at
most `FLUSH_SECONDS` at its end and one warning, whatever the number of events.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestration.logs import get_logger

FLUSH_SECONDS = 5.0
EVENTS_FILE = "lineage/events.jsonl"


def configured() -> bool:
    """Whether the user configured an OpenLineage transport (the standard ways)."""
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in os.environ):
        return True
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    return any(
        (folder / "openlineage.yml").is_file()
        for folder in (Path.cwd(), Path.home() / ".openlineage")
    )


def disabled() -> bool:
    return os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


def events_file(home: Path) -> Path:
    """The local event log of the embedded default (what `elt lineage` reads by default)."""
    return home / EVENTS_FILE


class Sender:
    """Emits events through an OpenLineage client on a thread of its own. The first failure is
    warned about once and the events after it are dropped (counted): a lineage server that is
    down must not cost one timeout per event."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent = 0
        self.dropped = 0
        self.failure: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="elt-lineage", daemon=True)
        self._thread.start()

    def send(self, events: Iterable[Any]) -> None:
        for event in events:
            self._queue.put(event)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                if self.failure is not None:
                    self.dropped += 1
                    continue
                try:
                    self.client.emit(event)
                    self.sent += 1
                except Exception as exc:  # any transport's failure: never the run's
                    self.failure = f"{type(exc).__name__}: {exc}"
                    self.dropped += 1
                    get_logger().warning(
                        "Lineage events are not being sent (%s): the run goes on without "
                        "them; check OPENLINEAGE_URL / openlineage.yml",
                        self.failure[:300],
                    )
            finally:
                self._queue.task_done()

    def flush(self, seconds: float = FLUSH_SECONDS) -> bool:
        """Wait up to `seconds` for the queued events to be sent; whether they all were."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(seconds)


class FileClient:
    """The embedded default's client: each event one JSON line appended to a file (the file
    transport of the OpenLineage client writes one file per event or rewrites one)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def emit(self, event: Any) -> None:
        from openlineage.client.serde import Serde

        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(json.loads(Serde.to_json(event)), separators=(",", ":"))
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


_senders: dict[tuple[str, ...], Sender] = {}
_lock = threading.Lock()


def _configuration(home: Path, embedded: bool) -> tuple[str, ...] | None:
    """What decides where events go now (None: nowhere)."""
    if disabled():
        return None
    if configured():
        chosen = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("OPENLINEAGE"))
        return ("configured", *chosen, str(Path.cwd()))
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
            if key[0] == "configured":
                from openlineage.client import OpenLineageClient

                client: Any = OpenLineageClient()  # may write OPENLINEAGE__ aliases (below)
            else:
                client = FileClient(events_file(home))
            made = Sender(client)
            atexit.register(made.flush)
            # the client turns OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__... variables of
            # the process: the same configuration, under the key it now reads as
            for same in {key, _configuration(home, embedded)} - {None}:
                _senders[same] = made  # type: ignore[index]
        return _senders[key]


def flush_all(seconds: float = FLUSH_SECONDS) -> bool:
    """Wait (up to `seconds` each) for every sender's queued events."""
    with _lock:
        senders = list(_senders.values())
    return all(s.flush(seconds) for s in senders)


__all__ = [
    "FLUSH_SECONDS", "FileClient", "Sender", "configured", "events_file", "flush_all", "sender",
]  # fmt: skip
