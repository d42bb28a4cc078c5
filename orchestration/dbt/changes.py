"""What a change-driven build builds, and what it reuses.

A node's result depends on its code and its inputs. So a build that follows a complete build of
the same target needs only the nodes downstream of a source table that received rows since
(its newest `loaded_at` moved, from dbt's `source freshness`), plus those whose code changed
(dbt's own `state:modified+`, against that build's manifest). Every other node would be built
into the rows it already holds: it is reused, and its tests are not rerun.

Wherever the answer is not proven, everything is built: no earlier complete build; a source
whose newest row is not known (no `loaded_at_field` or freshness, a query error); a change that
moves SQL without moving a node (the vars, `dbt_project.yml`, dbt's version); a node that would
be built into another table than last time. Not seen: a model whose SQL reads the clock or an
environment variable, and a table dropped by hand (`elt run --all` rebuilds everything).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from orchestration.dbt.build_state import BuildState, LastBuilt

CHANGED_CODE = "state:modified+"
UNKNOWN = LastBuilt("", "")
BUILT_TYPES = frozenset({"model", "seed", "snapshot"})  # what a build writes to a table or view


@dataclass(frozen=True)
class BuildPlan:
    """`select` None: a whole build (of what the user selected); else dbt selectors."""

    select: list[str] | None
    reason: str  # one line: why this selection
    changed_sources: tuple[str, ...] = ()

    @property
    def needs_state(self) -> bool:
        """A change-driven selection always holds `state:modified+`: dbt needs `--state`."""
        return self.select is not None


@dataclass(frozen=True)
class ReusedNode:
    unique_id: str
    name: str
    resource_type: str
    last_built: LastBuilt  # ("", "") when no recorded build knows it

    def as_row(self) -> dict[str, object]:
        return {
            "node": self.name,
            "type": self.resource_type,
            "last_built_at": self.last_built.at,
            "by_flow_run": self.last_built.run,
        }


def fingerprint(project_dir: Path, dbt_vars_text: str, dbt_version: str) -> str:
    """What changes compiled SQL without changing a node in dbt's eyes: the vars given, the
    project file (its vars and configs), dbt's version."""
    digest = hashlib.sha256()
    for part in (dbt_version, dbt_vars_text):
        digest.update(part.encode() + b"\0")
    try:
        digest.update((project_dir / "dbt_project.yml").read_bytes())
    except OSError:
        digest.update(b"no dbt_project.yml")
    return digest.hexdigest()


def plan_build(
    previous: BuildState | None,
    newest_rows: Mapping[str, str | None],
    current_fingerprint: str,
    manifest: Mapping[str, Any],
    reshaped: Iterable[str] = (),
) -> BuildPlan:
    """The selection of a change-driven build. `newest_rows`: every source of the current
    manifest and its newest `loaded_at` (None: not known). `reshaped`: source tables
    (`source.table`) whose columns changed (schema drift), changed whatever their rows."""
    if previous is None:
        return BuildPlan(None, "no complete build of this target is recorded yet: building all")
    if previous.fingerprint != current_fingerprint:
        return BuildPlan(
            None,
            "the vars, dbt_project.yml or dbt's version changed since the last complete build: "
            "building all",
        )
    moved = moved_relations(previous.manifest_nodes(), manifest.get("nodes", {}))
    if moved:
        return BuildPlan(None, f"{moved[0]} is built into another table now: building all")
    before, reshaped = previous.sources, set(reshaped)
    changed = tuple(
        sorted(
            uid
            for uid, now in newest_rows.items()
            if newer(now, before.get(uid)) or table_name(uid) in reshaped
        )
    )
    select = [source_selector(uid) + "+" for uid in changed] + [CHANGED_CODE]
    if changed:
        names = ", ".join(table_name(uid) for uid in changed)
        reason = f"new rows or columns in {names} since the last complete build; and changed code"
    else:
        reason = "no source has new rows since the last complete build: only changed code"
    return BuildPlan(select, reason, changed)


def newer(now: str | None, before: str | None) -> bool:
    """Whether a source's newest row moved since; unknown either side counts as moved."""
    if now is None or before is None:
        return True
    return datetime.fromisoformat(now) > datetime.fromisoformat(before)


def table_name(unique_id: str) -> str:
    """`source.<package>.<source>.<table>` as `<source>.<table>`."""
    return unique_id.split(".", 2)[-1]


def source_selector(unique_id: str) -> str:
    """`source.<package>.<source>.<table>` as dbt's selector `source:<package>.<source>.<table>`."""
    return "source:" + unique_id.split(".", 1)[1]


def moved_relations(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Nodes in both manifests whose table is another one now (a schema or alias changed in
    the profile or an env var): their old table is not theirs to reuse."""
    return sorted(
        node.get("name", uid)
        for uid, node in now.items()
        if uid in before and node.get("relation_name") != before[uid].get("relation_name")
    )


def narrow(user_select: Sequence[str], plan: BuildPlan) -> list[str]:
    """The plan's selectors within the user's own: each pair intersected (dbt's `a,b`)."""
    if plan.select is None:
        return list(user_select)
    if not user_select:
        return list(plan.select)
    mine = [token for spec in user_select for token in spec.split()]
    return [f"{m},{p}" for m in mine for p in plan.select]


def built_nodes(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The manifest's nodes that a build writes (models, seeds, snapshots; not ephemeral)."""
    return {
        uid: node
        for uid, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") in BUILT_TYPES
        and (node.get("config") or {}).get("materialized") != "ephemeral"
        and (node.get("config") or {}).get("enabled", True)
    }


def reused_nodes(
    manifest: Mapping[str, Any], built: Iterable[str], previous: BuildState | None
) -> list[ReusedNode]:
    """The nodes this build did not build: they hold what their last build wrote."""
    done = set(built)
    last = previous.nodes if previous else {}
    return [
        ReusedNode(
            uid, str(node.get("name", uid)), str(node["resource_type"]), last.get(uid, UNKNOWN)
        )
        for uid, node in sorted(built_nodes(manifest).items())
        if uid not in done
    ]


def time_partitioned_models(manifest: Mapping[str, Any]) -> set[str]:
    """The models built by day: those whose config comes from the project's `time_partitioned`
    macro (dbt lists the macros a node calls in its `depends_on`)."""
    return {
        uid
        for uid, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") == "model"
        and any(m.rsplit(".", 1)[-1] == "time_partitioned" for m in _macros_of(node))
    }


def downstream(manifest: Mapping[str, Any], starts: Iterable[str]) -> set[str]:
    """Every node that reads from `starts`, directly or not (dbt's `child_map`)."""
    return _closure(manifest.get("child_map", {}), starts)


def code_changed(before: Mapping[str, Any], now: Mapping[str, Any], uid: str) -> bool:
    """Whether `uid` or a node it reads from changed its SQL or config (what `state:modified`
    sees), or a macro one of them calls changed, or left, since the manifest `before`."""
    upstream = _closure(now.get("parent_map", {}), [uid]) | {uid}
    old_nodes, new_nodes = before.get("nodes", {}), now.get("nodes", {})
    old_macros, new_macros = before.get("macros", {}), now.get("macros", {})
    for node_id in upstream:
        if node_id.startswith("source."):
            continue
        old, new = old_nodes.get(node_id), new_nodes.get(node_id)
        if old is None or new is None:
            return True
        if old.get("checksum") != new.get("checksum") or old.get("config") != new.get("config"):
            return True
        for macro in _macros_of(new):
            if (old_macros.get(macro) or {}).get("macro_sql") != (new_macros.get(macro) or {}).get(
                "macro_sql"
            ):
                return True
    return False


def day_ranges(days: Sequence[str]) -> str:
    """ISO days as runs of consecutive days: `2019-05-02, 2026-10-27..2026-10-29`."""
    dates = sorted({date.fromisoformat(d) for d in days})
    runs: list[list[date]] = []
    for day in dates:
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return (
        ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}" for run in runs)
        or "none"
    )


def _macros_of(node: Mapping[str, Any]) -> list[str]:
    return list((node.get("depends_on") or {}).get("macros") or [])


def _closure(edges: Mapping[str, Sequence[str]], starts: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = [child for start in starts for child in edges.get(start, [])]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, []))
    return seen


__all__ = [
    "BuildPlan",
    "ReusedNode",
    "built_nodes",
    "code_changed",
    "day_ranges",
    "downstream",
    "fingerprint",
    "narrow",
    "newer",
    "plan_build",
    "reused_nodes",
    "source_selector",
    "time_partitioned_models",
]
