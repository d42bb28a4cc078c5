"""Live progress of a dbt invocation from dbt's structured events.

`NodeProgress` is a dbt callback: it counts finished nodes against the run's total, logs a line
at most every `interval` seconds ("37/200 nodes done, 0 failed") and, while dbt is quiet
(parsing, a long model), which nodes are running; it reports failures as they happen, and
forwards the fraction done and each failure to optional hooks (a Prefect progress artifact and
events, in the flow).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestration.dbt.run_results import FAILED_STATUSES
from orchestration.runtime import interrupts
from orchestration.runtime.logs import get_logger
from orchestration.runtime.ticker import Ticker


@dataclass(frozen=True)
class FinishedNode:
    unique_id: str
    name: str
    resource_type: str
    status: str
    duration_s: float
    message: str


class NodeProgress:
    def __init__(
        self,
        command: str,
        *,
        interval: float = 2.0,
        on_progress: Callable[[float], object] | None = None,
        on_failure: Callable[[FinishedNode], None] | None = None,
    ) -> None:
        self.command = command
        self.interval = interval
        self.on_progress = on_progress
        self.on_failure = on_failure
        self.total = 0
        # unique id -> its last status: a microbatch model finishes once per batch, then whole
        self._statuses: dict[str, str] = {}
        self._last_report = time.monotonic()
        self._lock = threading.Lock()  # dbt calls back from its worker threads
        self._log = get_logger()
        self.running: dict[str, str] = {}  # unique id -> name, in start order
        self.ticker = Ticker(self._where, self._log.info)

    @property
    def done(self) -> int:
        return len(self._statuses)

    @property
    def failed(self) -> int:
        return sum(status in FAILED_STATUSES for status in self._statuses.values())

    def watching(self) -> Ticker:
        """While dbt runs: a line whenever it has been quiet (see `logs.Ticker`)."""
        return self.ticker

    def _where(self, seconds: float) -> str:
        with self._lock:
            running = list(self.running.values())
            done, total, failed = self.done, max(self.total, self.done), self.failed
        if not total and not running:
            return f"dbt {self.command}: parsing and compiling the project ({seconds:.0f}s)"
        more = f" and {len(running) - 3} more" if len(running) > 3 else ""
        return (
            f"dbt {self.command}: {done}/{total} nodes done, {failed} failed"
            + (f"; running {', '.join(running[:3])}{more}" if running else "")
            + f" ({seconds:.0f}s)"
        )

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine" and not self.total:
            self.total = int(getattr(event.data, "total", 0) or 0)
        elif name == "NodeStart":
            node = event.data.node_info
            with self._lock:
                self.running[node.unique_id] = node.node_name
        elif name == "NodeFinished":
            self._finished(event.data)

    def _finished(self, data: Any) -> None:
        node, result = data.node_info, data.run_result
        finished = FinishedNode(
            unique_id=node.unique_id,
            name=node.node_name,
            resource_type=node.resource_type,
            status=str(result.status),
            duration_s=float(result.execution_time or 0.0),
            message=str(result.message or ""),
        )
        with self._lock:
            self.running.pop(node.unique_id, None)
            self._statuses[node.unique_id] = finished.status
            failed = finished.status in FAILED_STATUSES
            report = time.monotonic() - self._last_report >= self.interval
            if report:
                self._last_report = time.monotonic()
        if failed and interrupts.STOP.is_set():  # dbt's answer to our Ctrl-C: no failure
            self.ticker.said()
            self._log.info("dbt %s: %s %s interrupted", self.command, finished.resource_type,
                           finished.name)  # fmt: skip
        elif failed:
            self.ticker.said()
            self._log.error(
                "dbt %s: %s %s %s: %s",
                self.command,
                finished.resource_type,
                finished.name,
                finished.status,
                finished.message,
            )
            if self.on_failure:
                self._hook(self.on_failure, finished)
        if report:
            self.report()

    def report(self) -> None:
        self.ticker.said()
        total = max(self.total, self.done)
        self._log.info(
            "dbt %s: %d/%d nodes done, %d failed", self.command, self.done, total, self.failed
        )
        if self.on_progress and total:
            self._hook(self.on_progress, 100.0 * self.done / total)

    def _hook(self, hook: Callable[[Any], object], value: Any) -> None:
        """Reporting never fails the build: dbt would count an exception raised in its
        callback as the node's own failure ("Exception on worker thread")."""
        try:
            hook(value)
        except Exception as exc:
            self._log.warning("dbt %s: could not report progress: %s", self.command, exc)
