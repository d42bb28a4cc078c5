"""The days a change-driven build rebuilds in the time-partitioned marts: only those its new rows
touch, by their event time, not the sync's clock.

The mapping from changed rows to days is the model's knowledge (a moved purchase leaves its old
day, a new price touches every day of that product), so the project states it: its macro
`days_touched(since)`, run here with dbt's own `dbt show` against the target. The marts take the
days as the var `marts_days` (macros/time_partitioned.sql) and replace exactly them, one
statement each way, however far apart they are.

Wherever the days are not proven, the marts are built whole: no such macro; a changed source it
has no rule for, or one whose last newest row is unknown or whose columns changed; a mart, a
model it reads or a macro they call whose code changed (dbt would select it as modified); the
query failing (a mart dropped by hand); more than `MAX_DAYS` days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from orchestration.config import Config, DbtTarget
from orchestration.dbt.build_state import BuildState
from orchestration.dbt.changes import (
    BuildPlan,
    code_changed,
    downstream,
    table_name,
    time_partitioned_models,
)
from orchestration.dbt.runner import run_dbt

DAYS_MACRO = "days_touched"
MAX_DAYS = 5_000  # more, and the marts are built whole


@dataclass(frozen=True)
class TouchedDays:
    """`days` None: the time-partitioned marts the build reaches are built whole (`reason`)."""

    days: list[str] | None
    reason: str = ""


def touched_days(
    config: Config,
    target: DbtTarget,
    dbt_vars: Any,
    plan: BuildPlan,
    previous: BuildState | None,
    manifest: Mapping[str, Any],
    reshaped: Sequence[str] = (),
) -> TouchedDays:
    """The days of the time-partitioned marts that `plan`'s new rows touch; None when the plan
    reaches none of them (nothing to say) or the days are not proven (whole, and why)."""
    marts = time_partitioned_models(manifest)
    reached = marts & downstream(manifest, plan.changed_sources)
    if plan.select is None or previous is None or not reached:
        return TouchedDays(None)
    macro = next((m for m in manifest.get("macros", {}) if m.endswith("." + DAYS_MACRO)), None)
    if macro is None:
        return TouchedDays(None, f"the project has no macro {DAYS_MACRO}: marts built whole")
    before = previous.manifest_json
    if (before.get("macros", {}).get(macro) or {}).get("macro_sql") != manifest["macros"][
        macro
    ].get("macro_sql") or any(code_changed(before, manifest, uid) for uid in reached):
        return TouchedDays(None, "a time-partitioned mart's code changed: marts built whole")
    since = {
        table_name(uid).split(".", 1)[-1]: previous.sources.get(uid) for uid in plan.changed_sources
    }
    unknown = [t for t, at in since.items() if at is None] + [
        table_name(uid) for uid in plan.changed_sources if table_name(uid) in set(reshaped)
    ]
    if unknown:
        return TouchedDays(
            None, f"what changed in {unknown[0]} is not known by day: marts built whole"
        )
    inline = "select day from ({{ " + f"{DAYS_MACRO}({since!r})" + " }}) as days order by day"
    args = [*config.dbt.args("show", dbt_vars=dbt_vars), "--inline", inline, "--limit", "-1"]
    result = run_dbt(args, config.dbt_env(target))
    table = _table(result.raw) if result.success else None
    if table is None:
        why = (result.error or "no result").splitlines()[0] if result.error else "no result"
        return TouchedDays(None, f"the days touched could not be read ({why}): marts built whole")
    return bounded([_iso_day(row[0]) for row in table.rows])


def bounded(days: list[str]) -> TouchedDays:
    """The days, unless so many that the marts are better built whole: thousands of days are
    most of the history, and each is SQL text in both statements of each mart (5,000 days are
    about 140 KB; Snowflake's documentation asks for at most 1 MB of text per statement)."""
    if len(days) > MAX_DAYS:
        return TouchedDays(None, f"the new rows touch {len(days)} days: marts built whole")
    return TouchedDays(days)


def _table(raw: Any) -> Any:
    results = getattr(raw, "results", None) or []
    return getattr(results[0], "agate_table", None) if results else None


def _iso_day(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()[:10]
    return date.fromisoformat(str(value)[:10]).isoformat()


__all__ = ["MAX_DAYS", "TouchedDays", "bounded", "touched_days"]
