"""Backfills by day of dbt's microbatch models, as plain functions on dbt's own pieces.

A backfill is one `dbt build --event-time-start S --event-time-end E` over the selected
time-partitioned (microbatch) models and what depends on them: dbt cuts each model into its
batches and runs them (concurrently where the adapter allows), and `dbt retry` reruns only the
batches that failed. What this module adds is what dbt leaves in its log lines:

- `Days`: the range as the user says it (both ends rebuilt, `--end 2026-03-31` is March's last
  day) and as dbt takes it (the end exclusive), refused when reversed or not begun yet;
- `time_models` / `check_begin`: the selected microbatch models, and a range that starts
  before a model's `begin` refused in one line;
- `BatchLog`: a dbt callback that turns its batch events into one `Batch` per model and day,
  with its status, duration and error, as each finishes.
"""

from __future__ import annotations

import graphlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dbt.artifacts.schemas.results import NodeStatus

from orchestration.dbt.whole_marts import SWITCH_VAR, switch
from orchestration.errors import StepFailed, UserError

# The selection when a backfill names none: every microbatch model and what depends on them.
DEFAULT_SELECTION = "config.incremental_strategy:microbatch+"


@dataclass(frozen=True)
class Days:
    """The days a backfill rebuilds: `start` through `end`, both included."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"

    def __len__(self) -> int:
        return max(0, (self.end - self.start).days + 1)

    def __iter__(self) -> Iterator[date]:
        return (self.start + timedelta(days=i) for i in range(len(self)))

    @property
    def event_time(self) -> tuple[str, str]:
        """dbt's `--event-time-start` and `--event-time-end`: its end is exclusive, so the day
        after `end`."""
        return self.start.isoformat(), (self.end + timedelta(days=1)).isoformat()

    def check(self, today: date) -> None:
        if self.start > self.end:
            raise UserError(
                f"--start {self.start} is after --end {self.end}: give the first day, then the"
                " last (both are rebuilt)"
            )
        if self.start > today:
            raise UserError(
                f"no day of {self} has begun yet (today is {today} UTC): nothing to rebuild"
            )


@dataclass(frozen=True)
class TimeModel:
    unique_id: str
    name: str
    event_time: str
    begin: date | None
    batch_size: str
    relation: str  # as dbt quotes it: "db"."schema"."table"
    schema: str = ""
    identifier: str = ""


def time_models(manifest: Any, unique_ids: Iterable[str]) -> list[TimeModel]:
    """The microbatch models among `unique_ids` (from dbt's parsed `Manifest`)."""
    models = []
    for uid in unique_ids:
        node = manifest.nodes.get(uid)
        config: Any = getattr(node, "config", None)
        if node is None or getattr(config, "incremental_strategy", None) != "microbatch":
            continue
        begin = config.begin
        models.append(
            TimeModel(
                uid,
                node.name,
                str(config.event_time),
                begin.date() if hasattr(begin, "date") else begin,
                str(getattr(config.batch_size, "value", config.batch_size)),
                str(node.relation_name),
                str(node.schema),
                str(node.alias or node.name),
            )
        )
    return in_build_order(manifest, sorted(models, key=lambda m: m.unique_id))


def in_build_order(manifest: Any, models: Sequence[TimeModel]) -> list[TimeModel]:
    """`models` with each after the models it depends on (through any node), as dbt runs
    them: a retry rebuilds a model's days before its dependents'."""
    ids = {m.unique_id for m in models}
    parents: dict[str, set[str]] = {}
    for model in models:
        seen, stack = set(), list(_parents(manifest, model.unique_id))
        while stack:
            uid = stack.pop()
            if uid not in seen:
                seen.add(uid)
                stack.extend(_parents(manifest, uid))
        parents[model.unique_id] = seen & ids
    order = list(graphlib.TopologicalSorter(parents).static_order())
    return sorted(models, key=lambda m: order.index(m.unique_id))


def _parents(manifest: Any, uid: str) -> list[str]:
    node = manifest.nodes.get(uid)
    depends_on = getattr(node, "depends_on", None)
    return list(getattr(depends_on, "nodes", None) or [])


def project_switch(project_dir: Path) -> str:
    """How to turn the project's time-partitioned marts on, when it has the shipped project's
    var for it (set false); else nothing."""
    if switch(project_dir) is not False:
        return ""
    return (
        f"set the var {SWITCH_VAR}: true in {project_dir / 'dbt_project.yml'}, and marts_begin"
        " to the first day of its history"
    )


def check_begin(
    days: Days, models: Sequence[TimeModel], selection: Sequence[str], project_dir: Path
) -> None:
    if not models and list(selection) != [DEFAULT_SELECTION]:
        raise UserError(
            f"the selection {' '.join(selection)!r} holds no time-partitioned model (dbt's"
            " incremental_strategy 'microbatch'): select one, or leave --select out to backfill"
            " them all"
        )
    if not models:
        raise UserError(
            "the dbt project has no time-partitioned model to backfill (dbt's"
            " incremental_strategy 'microbatch', by day on an event_time): "
            + (project_switch(project_dir) or "give one that config")
        )
    for model in models:
        if model.begin is not None and days.start < model.begin:
            raise UserError(
                f"--start {days.start} is before {model.name}'s begin ({model.begin}): start on"
                " or after it (dbt builds no day before a model's begin)"
            )


def selection(select: Sequence[str]) -> list[str]:
    """The selected models and what depends on them (`x` becomes `x+`); all microbatch models
    and their descendants when nothing is selected."""
    if not select:
        return [DEFAULT_SELECTION]
    return [spec if spec.endswith("+") else f"{spec}+" for spec in select]


@dataclass
class Batch:
    model: str  # the model's name
    day: str  # the batch's start as dbt prints it: 2026-03-01 for a daily batch
    status: str  # success, error or skipped
    seconds: float = 0.0
    error: str = ""


@dataclass
class BatchLog:
    """A dbt callback: each batch of each microbatch model, as it finishes.

    dbt reports a batch's error (`GenericExceptionOnRun`) just before its result, from the
    thread that ran it; batches run concurrently, so errors are matched by thread."""

    on_batch: Callable[[Batch], None] = lambda batch: None
    batches: list[Batch] = field(default_factory=list)
    skipped_models: set[str] = field(default_factory=set)  # skipped whole (a parent failed)
    _errors: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "GenericExceptionOnRun":
            with self._lock:
                self._errors[threading.get_ident()] = str(event.data.exc)
        elif name == "LogBatchResult":
            said = str(event.data.status).lower()
            kept = (NodeStatus.Error, NodeStatus.Skipped)
            status = said if said in kept else NodeStatus.Success.value
            with self._lock:
                error = (
                    self._errors.pop(threading.get_ident(), "")
                    if status == NodeStatus.Error
                    else ""
                )
                batch = Batch(
                    event.data.node_info.unique_id.split(".")[-1],
                    str(event.data.description).split()[1],
                    status,
                    float(event.data.execution_time),
                    _first_error_line(error),
                )
                self.batches.append(batch)
            self.on_batch(batch)
        elif name == "SkippingDetails":  # a node not run at all: a parent of it failed
            uid = event.data.node_info.unique_id
            if uid.startswith("model."):
                self.skipped_models.add(uid.split(".")[-1])


def _first_error_line(text: str) -> str:
    """dbt's `Exception on worker thread. Runtime Error` header dropped: the database's words."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Exception on worker thread")]
    lines = [line for line in lines if line not in ("Runtime Error", "Database Error")]
    return lines[0] if lines else text.strip()


__all__ = [
    "DEFAULT_SELECTION",
    "Batch",
    "BatchLog",
    "Days",
    "TimeModel",
    "check_begin",
    "in_build_order",
    "selection",
    "time_models",
]


@dataclass
class BackfillResult:
    target: str
    days: Days
    models: list[str]  # the time-partitioned models backfilled
    batches: list[Batch] = field(default_factory=list)
    skipped_models: list[str] = field(default_factory=list)
    retried: bool = False
    dbt_error: str = ""  # dbt's own failure, when a node other than a batch failed
    built_earlier: int = 0  # a retry's batches that an earlier attempt had built
    nothing_left: bool = False  # a retry of a backfill that had built everything

    @property
    def failed(self) -> list[Batch]:
        return [b for b in self.batches if b.status == NodeStatus.Error]

    def line(self) -> str:
        built = sum(1 for b in self.batches if b.status == NodeStatus.Success)
        what = "retried" if self.retried else "backfilled"
        text = (
            f"{what} {self.days} ({len(self.days)} days) of {', '.join(self.models)} on target"
            f" {self.target}: {built} of {len(self.batches)} batches built"
        )
        if self.nothing_left:
            return f"{text}: nothing to retry, the last backfill had built every batch"
        if self.retried:
            text += f" (the unfinished ones; {self.built_earlier} built before)"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.skipped_models:
            text += f"; skipped by dbt after a failure: {', '.join(self.skipped_models)}"
        return text

    def failure(self) -> StepFailed:
        shown = "; ".join(f"{b.model} {b.day}: {b.error}" for b in self.failed[:10])
        more = f" (and {len(self.failed) - 10} more)" if len(self.failed) > 10 else ""
        why = f"{shown}{more}" if self.failed else self.dbt_error
        return StepFailed(
            f"{self.line()}: {why}: fix the cause, then `elt backfill --retry` rebuilds only"
            " what failed"
        )
