"""Freshness SLAs, as the dbt project declares them.

Sources: dbt's own `source freshness` (per table `warn_after` / `error_after` on its
`loaded_at_field`), so every adapter works and no second connection path exists. Marts: a
deadline in the model's yml, `meta: {sla: {deadline_cron: "0 7 * * *", timezone: UTC}}`,
checked against the mart's last successful build.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from orchestration.errors import ConfigError, first_line

Status = Literal["pass", "warn", "error"]
SEVERITY = {"pass": "ok", "warn": "warn", "error": "breached"}


@dataclass(frozen=True)
class SlaResult:
    kind: Literal["source", "mart"]
    name: str
    status: Status
    newest: datetime | None  # newest loaded_at (source) or last successful build (mart)
    age_hours: float | None
    sla: str  # what was required, in words
    message: str = ""

    @property
    def passed(self) -> bool:
        """Only `error` fails the check; `warn` is published and emitted."""
        return self.status != "error"

    @property
    def severity(self) -> str:
        return SEVERITY[self.status]

    def describe(self) -> str:
        if self.message:
            return f"{self.name} ({self.message})"
        if self.age_hours is None:
            return f"{self.name} (no rows)"
        return f"{self.name} ({self.age_hours:.1f}h old, SLA {self.sla})"

    def as_row(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "newest": self.newest.isoformat() if self.newest else "never",
            "age_hours": "" if self.age_hours is None else round(self.age_hours, 1),
            "sla": self.sla,
        }


def source_results(freshness_result: Any) -> list[SlaResult]:
    """dbt's `source freshness` results (a `FreshnessResult`), one per source table."""
    out = []
    for r in getattr(freshness_result, "results", None) or []:
        node = r.node
        status = str(getattr(r.status, "value", r.status))
        newest = getattr(r, "max_loaded_at", None)
        age = getattr(r, "age", None)
        message = ""
        if status not in ("pass", "warn", "error"):  # "runtime error": no table, no column
            status, message = "error", first_line(getattr(r, "message", "") or status)
        out.append(
            SlaResult(
                kind="source",
                name=node.name,
                status=status,  # type: ignore[arg-type]
                newest=newest.astimezone(UTC) if isinstance(newest, datetime) else None,
                age_hours=None if age is None else float(age) / 3600,
                sla=describe_thresholds(node.freshness),
                message=message,
            )
        )
    return sorted(out, key=lambda s: s.name)


def describe_thresholds(freshness: Any) -> str:
    parts = []
    for level in ("warn_after", "error_after"):
        after = getattr(freshness, level, None)
        if after is not None and getattr(after, "count", None):
            period = str(getattr(after.period, "value", after.period))
            parts.append(f"{level.split('_')[0]} {after.count} {period}s")
    return ", ".join(parts) or "none"


@dataclass(frozen=True)
class Deadline:
    """A mart's SLA: built (since the deadline before) by every tick of `cron` in `timezone`."""

    model: str
    cron: str
    timezone: str

    @classmethod
    def from_meta(cls, model: str, sla: Mapping[str, Any]) -> Deadline:
        cron = str(sla.get("deadline_cron") or "")
        timezone = str(sla.get("timezone") or "UTC")
        where = f"model {model}: meta.sla"
        try:
            CronSim(cron, datetime.now(UTC))
        except CronSimError:
            raise ConfigError(f"{where}.deadline_cron {cron!r} is not a cron expression") from None
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}.timezone {timezone!r} is not a time zone") from None
        return cls(model, cron, timezone)

    def window_start(self, now: datetime) -> datetime:
        """The deadline before the most recent one: a build since then is this period's."""
        ticks = CronSim(self.cron, now.astimezone(ZoneInfo(self.timezone)), reverse=True)
        next(ticks)  # the most recent deadline
        return next(ticks).astimezone(UTC)

    def evaluate(self, last_built: datetime | None, now: datetime) -> SlaResult:
        start = self.window_start(now)
        ok = last_built is not None and last_built > start
        age = None if last_built is None else (now - last_built).total_seconds() / 3600
        return SlaResult(
            kind="mart",
            name=self.model,
            status="pass" if ok else "error",
            newest=last_built,
            age_hours=age,
            sla=f"built by {cron_in_words(self.cron, self.timezone)}",
            message="" if ok else _late(last_built, start),
        )


def mart_deadlines(manifest: Mapping[str, Any]) -> list[Deadline]:
    """Every model of a dbt manifest whose meta declares `sla.deadline_cron`."""
    deadlines = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        if isinstance(meta.get("sla"), Mapping) and meta["sla"].get("deadline_cron"):
            deadlines.append(Deadline.from_meta(node["name"], meta["sla"]))
    return sorted(deadlines, key=lambda d: d.model)


def breach_message(breached: Iterable[SlaResult]) -> str:
    items = list(breached)
    return f"freshness SLA breached by {len(items)}: " + ", ".join(r.describe() for r in items)


def _late(last_built: datetime | None, start: datetime) -> str:
    if last_built is None:
        return "never built"
    return f"last built {last_built:%Y-%m-%d %H:%M} UTC, not since {start:%Y-%m-%d %H:%M} UTC"


WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def cron_in_words(cron: str, timezone: str) -> str:
    """A deadline as people say it: `0 7 * * *` -> "07:00 UTC daily", `30 6 * * 1` ->
    "06:30 UTC on Mondays"; any other schedule as its cron."""
    fields = cron.split()
    if (
        len(fields) == 5
        and fields[0].isdigit()
        and fields[1].isdigit()
        and fields[2:4] == ["*", "*"]
    ):
        time_of_day = f"{int(fields[1]):02d}:{int(fields[0]):02d} {timezone}"
        if fields[4] == "*":
            return f"{time_of_day} daily"
        if fields[4].isdigit() and int(fields[4]) % 7 < len(WEEKDAYS):
            return f"{time_of_day} on {WEEKDAYS[int(fields[4]) % 7]}s"
    return f"cron {cron!r} {timezone}"
