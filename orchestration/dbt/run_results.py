"""What a dbt invocation did, node by node, in plain data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dbt.artifacts.schemas.results import NodeStatus

from orchestration.dbt.changes import ReusedNode
from orchestration.errors import StepFailed

# dbt's own statuses (a `NodeStatus` is its string: "error", "fail", "runtime error")
FAILED_STATUSES = frozenset({NodeStatus.Error, NodeStatus.Fail, NodeStatus.RuntimeErr})


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    name: str
    resource_type: str
    status: str
    duration_s: float
    rows_affected: int | None = None
    message: str = ""
    has_sla: bool = False  # the model's meta declares an `sla` (see orchestration.checks.freshness)

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def as_row(self) -> dict[str, object]:
        return {
            "node": self.name,
            "type": self.resource_type,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "rows_affected": "" if self.rows_affected is None else self.rows_affected,
            "message": self.message,
        }


def declares_sla(meta: Mapping[str, Any] | None, config_meta: Mapping[str, Any] | None) -> bool:
    """Whether a node's meta (its own, then its config's, which wins) declares an `sla`."""
    return isinstance({**(meta or {}), **(config_meta or {})}.get("sla"), dict)


def node_table(nodes: list[NodeResult]) -> list[dict[str, object]]:
    """Every node's row; the rows-affected column only where the adapter reports it (DuckDB
    never does: a column of blanks answers nothing)."""
    rows = [n.as_row() for n in nodes]
    if all(n.rows_affected is None for n in nodes):
        for row in rows:
            del row["rows_affected"]
    return rows


@dataclass
class DbtRunResult:
    command: str
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0
    unmatched: list[str] = field(default_factory=list)  # selectors that matched no node
    exit_code: int = 0  # dbt's own: 0 ok, 1 a node failed, 2 dbt could not run (parse, usage)
    target: str = ""  # the dbt target it ran on, for the summaries
    reused: list[ReusedNode] = field(default_factory=list)  # a change-driven build's unchanged
    plan: str = ""  # a change-driven build's reason for its selection
    days: list[str] | None = None  # the days its time-partitioned marts replaced (None: whole)
    raw: Any = field(default=None, repr=False, compare=False)  # dbt's own result object

    @property
    def failed_nodes(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.failed]

    def count(self, resource_type: str, *, ok_only: bool = False) -> int:
        return sum(
            1 for n in self.nodes if n.resource_type == resource_type and not (ok_only and n.failed)
        )

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.status] = counts.get(n.status, 0) + 1
        return counts

    def summary(self, *, ok_only: bool = False) -> str:
        """What ran, by kind: `2 seeds, 9 models, 1 snapshot, 30 tests, 2 unit tests`."""
        kinds = [(kind, self.count(kind, ok_only=ok_only)) for kind in RESOURCE_KINDS]
        parts = [f"{n} {_plural(KIND_NAMES.get(kind, kind), n)}" for kind, n in kinds if n]
        others = len(self.nodes) - sum(self.count(kind) for kind in RESOURCE_KINDS)
        if others:
            parts.append(f"{others} other {_plural('node', others)}")
        if not parts:
            if self.command == "retry":
                return "nothing to retry"
            return "nothing changed" if self.reused else "no nodes"
        return ", ".join(parts)

    def reuse_note(self) -> str:
        """A change-driven build's reused nodes, for a summary line ("" when none)."""
        n = len(self.reused)
        return f"; {n} reused, unchanged since their last build" if n else ""

    def failure_message(self) -> str:
        """One message naming every failed node and dbt's reason, or dbt's own error."""
        if self.failed_nodes:
            parts = [
                f"{n.resource_type} {n.name} {n.status}: {_one_line(n.message)}"
                for n in self.failed_nodes
            ]
            return f"dbt {self.command} failed: " + "; ".join(parts)
        return f"dbt {self.command} failed: {_one_line(self.error or 'unknown error')}"

    def failure(self) -> StepFailed:
        """The step's failure, exiting `elt` with dbt's own status."""
        return StepFailed(self.failure_message(), exit_code=self.exit_code or 1)


RESOURCE_KINDS = ("seed", "model", "snapshot", "test", "unit_test")
KIND_NAMES = {"unit_test": "unit test"}


def _plural(word: str, n: int) -> str:
    return word if n == 1 else word + "s"


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run_results_since(target_path: Path, since: datetime) -> bool:
    """Whether `target_path/run_results.json` was written at or after `since` (by an earlier
    attempt of this run). dbt writes it when an invocation ends: a process killed mid-command
    leaves the one of an older invocation (or none, in a new pod), and `dbt retry` would
    replay that older invocation's failures."""
    try:
        metadata = json.loads((target_path / "run_results.json").read_text())["metadata"]
        written = datetime.fromisoformat(metadata["generated_at"].replace("Z", "+00:00"))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return written >= since
