"""Freshness SLA: how old the newest raw row of each table is, against a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FreshnessResult:
    table: str
    newest_extracted_at: datetime | None
    age_hours: float | None
    threshold_hours: float

    @property
    def passed(self) -> bool:
        return self.age_hours is not None and self.age_hours <= self.threshold_hours

    def describe(self) -> str:
        if self.age_hours is None:
            return f"{self.table} (no rows)"
        return f"{self.table} ({self.age_hours:.1f}h old)"

    def as_row(self) -> dict[str, object]:
        return {
            "table": self.table,
            "newest_extracted_at": (
                self.newest_extracted_at.isoformat() if self.newest_extracted_at else "never"
            ),
            "age_hours": "" if self.age_hours is None else round(self.age_hours, 2),
            "threshold_hours": self.threshold_hours,
            "status": "pass" if self.passed else "FAIL",
        }


def evaluate(
    newest: dict[str, datetime | None], *, now: datetime, threshold_hours: float
) -> list[FreshnessResult]:
    results = []
    for table, extracted_at in newest.items():
        age = None if extracted_at is None else (now - extracted_at).total_seconds() / 3600
        results.append(FreshnessResult(table, extracted_at, age, threshold_hours))
    return results


def breach_message(stale: list[FreshnessResult], threshold_hours: float) -> str:
    tables = ", ".join(r.describe() for r in stale)
    return f"freshness SLA of {threshold_hours:g}h breached by {len(stale)} table(s): {tables}"
