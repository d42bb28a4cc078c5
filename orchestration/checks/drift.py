"""Schema drift between what Airbyte loaded and what the dbt models expect, and its blast radius.

Plain functions on dbt's manifest (a dict) and the warehouse's columns, so that the check
runs on any target through whatever connection reads `information_schema`:

- `source_tables(manifest)`: every dbt source table, its declared columns, the models that
  read it and the columns they use (identifiers in their SQL);
- `compare(table, now, before)`: what changed since the last accepted snapshot (`before`, or
  the declared columns when there is none), each change classified: a table missing, a column
  dropped (or renamed: a drop plus an add) that a model uses, or a type changed to an
  incompatible family, is breaking; an added column is information;
- `values_changed(table, total, changed)`: the share of a sync's rows whose
  `_airbyte_meta.changes` says Airbyte nulled or truncated a column's value, against the
  limit the source's yml declares (`meta: {airbyte_changes: {max_share: 0.05, severity:
  error}}` on the source, a table or a column), breaking or a warning as declared;
- `held_back(manifest, changes)`: the nodes downstream of a table with a breaking change, which
  a build must leave out (`exclusions`: dbt's own `source:<source>.<table>+` selectors), every
  other node still building.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestration.errors import StepFailed

Kind = Literal["table missing", "column dropped", "type changed", "column added", "values changed"]
Severity = Literal["error", "warn"]

# Type families: a change inside a family, or to a wider one, breaks nothing a model does.
_FAMILIES = (
    ("integer", r"^(tinyint|smallint|int|integer|bigint|hugeint|ubigint|uinteger|int\d*|long)"),
    ("decimal", r"^(decimal|numeric|number)"),
    ("float", r"^(float|double|real)"),
    ("text", r"^(varchar|char|string|text|character)"),
    ("boolean", r"^(bool|boolean)"),
    ("timestamp", r"^(timestamp|datetime)"),
    ("date", r"^date$"),
    ("json", r"^(json|variant|object|array|struct|map)"),
)
_WIDENS = {
    ("integer", "decimal"),
    ("integer", "float"),
    ("decimal", "float"),
    ("date", "timestamp"),
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def family(data_type: str) -> str:
    """The family of a warehouse type (`NUMBER(38,0)` is an integer, as Snowflake means it)."""
    text = data_type.strip().lower()
    if re.match(r"^(number|numeric|decimal)\(\s*\d+\s*,\s*0\s*\)", text):
        return "integer"
    for name, pattern in _FAMILIES:
        if re.match(pattern, text):
            return name
    return text


def compatible(before: str, now: str) -> bool:
    old, new = family(before), family(now)
    return old == new or (old, new) in _WIDENS


@dataclass(frozen=True)
class ChangesLimit:
    """How many of a sync's values in a column Airbyte may null or truncate before it counts."""

    max_share: float
    severity: Severity = "error"

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], where: str) -> ChangesLimit | None:
        declared = meta.get("airbyte_changes")
        if declared is None:
            return None
        wrong = ValueError(
            f"{where}: meta.airbyte_changes must be {{max_share: <0..1>, severity: error|warn}}"
            f", not {declared!r}"
        )
        try:
            share = float(declared["max_share"])
            severity = declared.get("severity", "error")
        except (TypeError, KeyError, ValueError):
            raise wrong from None
        if not (0 <= share <= 1 and severity in ("error", "warn")):  # checked under `python -O`
            raise wrong
        return cls(share, severity)


@dataclass(frozen=True)
class SourceTable:
    unique_id: str  # source.<project>.<source>.<table>
    source: str
    name: str
    schema: str
    identifier: str
    declared: tuple[str, ...]  # columns the source's yml declares (lowercase)
    readers: tuple[str, ...]  # the models that select from it
    used: frozenset[str] = field(default_factory=frozenset)  # identifiers in their SQL
    on_drift: Severity = "error"
    changes_limit: ChangesLimit | None = None  # for every column, unless one declares its own
    column_limits: tuple[tuple[str, ChangesLimit], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.source}.{self.name}"

    def limit_for(self, column: str) -> ChangesLimit | None:
        return dict(self.column_limits).get(column, self.changes_limit)

    @property
    def checks_values(self) -> bool:
        return self.changes_limit is not None or bool(self.column_limits)

    @property
    def selector(self) -> str:
        return f"source:{self.source}.{self.name}"


@dataclass(frozen=True)
class Change:
    table: str  # source.table
    kind: Kind
    column: str | None = None
    old_type: str | None = None
    new_type: str | None = None
    breaking: bool = False
    used_by: tuple[str, ...] = ()
    share: float | None = None  # values changed: the share of the sync's rows
    limit: ChangesLimit | None = None
    warning: bool = False  # over a limit declared `severity: warn`

    def describe(self) -> str:
        what = f"{self.table}: {self.kind}" + (f" {self.column}" if self.column else "")
        if self.kind == "values changed" and self.share is not None and self.limit:
            what = (
                f"{self.table}: {self.share:.0%} of {self.column} values nulled or truncated by"
                f" Airbyte (_airbyte_meta.changes; limit {self.limit.max_share:.0%})"
            )
        elif self.kind == "type changed":
            what += f" ({self.old_type} -> {self.new_type})"
        if self.used_by:
            what += f", used by {', '.join(self.used_by)}"
        return what


def source_tables(manifest: Mapping[str, Any]) -> list[SourceTable]:
    """Every source table of the manifest with what reads it (from the models' compiled SQL
    where dbt wrote it, else their raw SQL)."""
    nodes = manifest.get("nodes", {})
    children = manifest.get("child_map", {})
    tables = []
    for uid, source in sorted(manifest.get("sources", {}).items()):
        readers = [
            c for c in children.get(uid, []) if nodes.get(c, {}).get("resource_type") == "model"
        ]
        used: set[str] = set()
        for reader in readers:
            sql = nodes[reader].get("compiled_code") or nodes[reader].get("raw_code") or ""
            used |= {token.lower() for token in _IDENTIFIER.findall(sql)}
        meta = {
            **(source.get("source_meta") or {}),
            **(source.get("meta") or {}),
            **((source.get("config") or {}).get("meta") or {}),
        }
        where = f"source {source['source_name']}.{source['name']}"
        column_limits = []
        for name, column in (source.get("columns") or {}).items():
            column_meta = {
                **(column.get("meta") or {}),
                **(column.get("config") or {}).get("meta", {}),
            }
            limit = ChangesLimit.from_meta(column_meta, f"{where} column {name}")
            if limit is not None:
                column_limits.append((name.lower(), limit))
        tables.append(
            SourceTable(
                unique_id=uid,
                source=source["source_name"],
                name=source["name"],
                schema=source["schema"],
                identifier=source.get("identifier") or source["name"],
                declared=tuple(c.lower() for c in source.get("columns", {})),
                readers=tuple(nodes[r]["name"] for r in readers),
                used=frozenset(used),
                on_drift="warn" if meta.get("on_drift") == "warn" else "error",
                changes_limit=ChangesLimit.from_meta(meta, where),
                column_limits=tuple(column_limits),
            )
        )
    return tables


def compare(
    table: SourceTable,
    now: Mapping[str, str] | None,
    before: Mapping[str, str] | None,
) -> list[Change]:
    """What changed in `table` (its columns `now`, lowercase name -> type; None: no table)
    since `before` (the last accepted snapshot; None: only the declared columns are known)."""
    label = f"{table.source}.{table.name}"
    if now is None:
        return [Change(label, "table missing", breaking=True, used_by=table.readers)]
    known = dict(before) if before is not None else dict.fromkeys(table.declared, "")
    changes = []
    for column, old_type in sorted(known.items()):
        users = table.readers if column in table.used or column in table.declared else ()
        if column not in now:
            changes.append(Change(label, "column dropped", column, old_type or None, None,
                                  breaking=bool(users), used_by=users))  # fmt: skip
        elif old_type and not compatible(old_type, now[column]):
            changes.append(Change(label, "type changed", column, old_type, now[column],
                                  breaking=bool(users), used_by=users))  # fmt: skip
    if before is not None:
        for column in sorted(set(now) - set(known)):
            changes.append(Change(label, "column added", column, None, now[column]))
    return changes


def values_changed(table: SourceTable, total: int, changed: Mapping[str, int]) -> list[Change]:
    """Columns whose values Airbyte nulled or truncated in more of the sync's `total` rows
    than their declared limit (`changed`: column -> rows whose `_airbyte_meta.changes` name
    it). Over an `error` limit, a column a model uses is breaking; over a `warn` one, a warning."""
    changes = []
    for column, rows in sorted(changed.items()):
        limit = table.limit_for(column.lower())
        if limit is None or not total or rows / total <= limit.max_share:
            continue
        users = table.readers if column.lower() in table.used else ()
        breaking = limit.severity == "error" and bool(users)
        changes.append(
            Change(table.label, "values changed", column.lower(), breaking=breaking,
                   used_by=users, share=rows / total, limit=limit, warning=not breaking)
        )  # fmt: skip
    return changes


def held_back(manifest: Mapping[str, Any], changes: Iterable[Change]) -> list[str]:
    """The nodes (models, tests, snapshots...) downstream of a table with a breaking change."""
    children = manifest.get("child_map", {})
    by_label = {
        f"{s['source_name']}.{s['name']}": uid for uid, s in manifest.get("sources", {}).items()
    }
    todo = [by_label[c.table] for c in changes if c.breaking and c.table in by_label]
    seen: set[str] = set()
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return sorted(seen)


def exclusions(tables: Iterable[SourceTable], changes: Iterable[Change]) -> list[str]:
    """dbt's selectors that leave out what `held_back` names: `source:<source>.<table>+`."""
    broken = {c.table for c in changes if c.breaking}
    return sorted(f"{t.selector}+" for t in tables if f"{t.source}.{t.name}" in broken)


__all__ = [
    "Change",
    "ChangesLimit",
    "SourceTable",
    "compare",
    "compatible",
    "exclusions",
    "family",
    "held_back",
    "source_tables",
    "values_changed",
]


@dataclass
class DriftReport:
    target: str
    changes: list[Change] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # unique ids left out of the build
    exclude: list[str] = field(default_factory=list)  # dbt selectors that leave them out
    warn_only: set[str] = field(default_factory=set)  # tables declared `on_drift: warn`

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    @property
    def failing(self) -> list[Change]:
        return [c for c in self.breaking if c.table not in self.warn_only]

    def line(self) -> str:
        if not self.changes:
            return f"schema drift: none on target {self.target}"
        held = ", ".join(uid.split(".")[-1] for uid in self.held_back if uid.startswith("model."))
        return (
            f"schema drift on target {self.target}: "
            + "; ".join(c.describe() for c in self.changes)
            + (f"; held back: {held}" if held else "")
        )

    @property
    def warnings(self) -> list[Change]:
        """What the run reports as a warning: over a `warn` limit, or breaking in a table
        declared `on_drift: warn`."""
        return [c for c in self.changes if c.warning or (c.breaking and c not in self.failing)]

    def failure(self, also: str = "") -> StepFailed:
        """The run's failure: each change, what was held back, the fix (then `also`: what
        else failed after the build, e.g. the freshness of a table that went missing)."""
        missing = sorted({c.table for c in self.failing if c.kind == "table missing"})
        schema = sorted(
            {c.table for c in self.failing if c.kind not in ("values changed", "table missing")}
        )
        values = sorted({c.table for c in self.failing if c.kind == "values changed"})
        fixes = []
        if missing:  # nothing to accept: the table must come back (or leave the sources)
            fixes.append(
                f"sync again to recreate {', '.join(missing)} (`elt sync`), or remove "
                f"{'it' if len(missing) == 1 else 'them'} from the project's dbt sources"
            )
        if schema:
            fixes.append(
                "fix the source or the models, or accept the new schema with "
                + " ".join(f"`elt drift accept {t}`" for t in schema)
            )
        if values:
            fixes.append(
                f"read _airbyte_meta.changes in {', '.join(values)} (values the destination could"
                " not type), fix the stream's schema and sync again, or raise max_share in the"
                " source's meta.airbyte_changes"
            )
        return StepFailed(f"{self.line()}: {'; '.join(fixes)}" + (f"; also {also}" if also else ""))
