"""A backfill's own record of its progress, written as dbt finishes each batch, so that a retry
resumes *that* backfill, whatever ended it.

dbt writes `run_results.json` only when an invocation ends: after a `kill -9`, an evicted pod
or a lost machine, it still holds the last invocation that *finished*, and `dbt retry` replays
that one (an older backfill, reported as a success). The journal is one JSON-lines file per
backfill, `DBT_TARGET_PATH/backfills/<target>/<started>-<run id>.jsonl`: its first line is the
plan (days, selection, models), then one line per batch that dbt reported built (appended and
fsynced as dbt's event arrives, before the next batch is counted), and a last line when every
batch and node was built. A batch that committed but was not yet recorded is built again by the
retry: a microbatch batch replaces its day, so building it twice changes nothing.

What a retry rebuilds (`Journal.unfinished`): per model, the days with no built batch in any
attempt, as ranges of consecutive days, since dbt builds one range per invocation
(`--event-time-start/--event-time-end`). Concurrent batches leave finished days between
unfinished ones; above `MAX_RANGES` ranges for a model, the shortest gaps are bridged (their
finished days built again) rather than starting dbt once more per range.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from orchestration.dbt.microbatch import Batch, Days

__all__ = ["MAX_RANGES", "Journal", "Rebuild", "journal_folder"]

MAX_RANGES = 4  # per model and retry: each range is one more dbt invocation (seconds each)


def journal_folder(target_path: Path, target: str) -> Path:
    return target_path / "backfills" / target


@dataclass(frozen=True)
class Rebuild:
    """One dbt invocation of a retry: these models, these days."""

    models: tuple[str, ...]
    days: Days
    bridged: int = 0  # days in it that an earlier attempt had built (see the module's docstring)


@dataclass
class Journal:
    path: Path
    days: Days
    select: list[str]
    models: list[str]  # the time-partitioned models, in the order dbt builds them
    run_id: str = ""
    built: dict[str, set[date]] = field(default_factory=dict)
    finished: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def begin(
        cls,
        folder: Path,
        days: Days,
        select: Sequence[str],
        models: Sequence[str],
        run_id: str = "",
    ) -> Journal:
        folder.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        journal = cls(folder / f"{started}-{run_id or 'local'}.jsonl", days, list(select),
                      list(models), run_id)  # fmt: skip
        plan = {
            "start": days.start.isoformat(),
            "end": days.end.isoformat(),
            "select": journal.select,
            "models": journal.models,
            "run_id": run_id,
        }
        journal._append(plan)
        return journal

    @classmethod
    def latest(cls, folder: Path, run_id: str | None = None) -> Journal | None:
        """The backfill started last (of flow run `run_id`, when given), finished or not."""
        paths = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        if run_id is not None:
            paths = [p for p in paths if p.stem.endswith(f"-{run_id}")]
        return cls.read(paths[-1]) if paths else None

    @classmethod
    def read(cls, path: Path) -> Journal:
        lines = [json.loads(line) for line in _complete_lines(path)]
        plan = lines[0]
        journal = cls(
            path,
            Days(date.fromisoformat(plan["start"]), date.fromisoformat(plan["end"])),
            list(plan["select"]),
            list(plan["models"]),
            str(plan.get("run_id") or ""),
        )
        for entry in lines[1:]:
            if entry.get("finished"):
                journal.finished = True
            elif "model" in entry:
                journal.built.setdefault(entry["model"], set()).add(
                    date.fromisoformat(entry["day"][:10])
                )
        return journal

    def record(self, batch: Batch) -> None:
        """A batch dbt reported: kept (durably) when built."""
        if batch.status != "success" or batch.model not in self.models:
            return
        day = date.fromisoformat(batch.day[:10])
        with self._lock:  # dbt's threads report batches concurrently
            self.built.setdefault(batch.model, set()).add(day)
            self._append({"model": batch.model, "day": day.isoformat()})

    def finish(self) -> None:
        self.finished = True
        self._append({"finished": True})

    def built_count(self) -> int:
        return sum(len(days) for days in self.built.values())

    def unfinished(self) -> list[Rebuild]:
        """The dbt invocations that build what no attempt built, in the order to run them:
        models in dbt's order, consecutive models with the same ranges in one invocation."""
        groups: list[tuple[list[str], list[tuple[Days, int]]]] = []
        for model in self.models:
            built = self.built.get(model, set())
            ranges = _ranges([d for d in self.days if d not in built], built)
            if not ranges:
                continue
            if groups and [days for days, _ in groups[-1][1]] == [days for days, _ in ranges]:
                models, before = groups[-1]
                both = [(days, a + b) for (days, a), (_, b) in zip(before, ranges, strict=True)]
                groups[-1] = ([*models, model], both)
            else:
                groups.append(([model], ranges))
        return [
            Rebuild(tuple(models), days, bridged)
            for models, ranges in groups
            for days, bridged in ranges
        ]

    def _append(self, entry: dict) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())


def _ranges(missing: Sequence[date], built: set[date]) -> list[tuple[Days, int]]:
    """Consecutive runs of `missing` days, the shortest gaps bridged above MAX_RANGES; each
    with the count of built days it holds."""
    runs: list[list[date]] = []
    for day in missing:
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    while len(runs) > MAX_RANGES:
        gaps = [(runs[i + 1][0] - runs[i][1]).days for i in range(len(runs) - 1)]
        i = gaps.index(min(gaps))
        runs[i : i + 2] = [[runs[i][0], runs[i + 1][1]]]
    return [(Days(a, b), sum(1 for d in Days(a, b) if d in built)) for a, b in runs]


def _complete_lines(path: Path) -> Iterable[str]:
    """Every whole line: a kill mid-write leaves at most a partial last one, ignored."""
    text = path.read_text()
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()] if lines else []
