"""A dbt selection that matches no node is a typo until proven otherwise: the error names the
nodes the user probably meant, read from the manifest dbt has just written."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from orchestration.dbt.run_results import DbtRunResult
from orchestration.errors import UserError

# graph operators and a `method:` prefix around a node's name: `2+model:dim_users+`, `@x`
_AROUND_NAME = re.compile(r"^(?:@|\d*\+)?(?:(?:fqn|model|source|resource_type):)?(.*?)(?:\+\d*)?$")


def unmatched(result: DbtRunResult, select: Sequence[str]) -> list[str]:
    """The selectors of `select` that dbt said match nothing. (An exclusion that matches
    nothing excludes nothing, and dbt runs on: so does this.)"""
    selected = {part for spec in select for part in (spec, *spec.split(","))}
    return [spec for spec in result.unmatched if spec in selected]


def selection_error(
    specs: Sequence[str],
    project_path: Path,
    manifest: Path,
    listing: Sequence[str],
    allow_empty_flag: bool,
) -> UserError:
    """One line: what matched nothing, what was probably meant (from the `manifest` dbt has
    just written), how to list what exists (`listing`: a `dbt ls` that runs from anywhere)."""
    known = node_names(manifest)
    guesses = [f"{spec}: did you mean {hint}?" for spec in specs if (hint := _closest(spec, known))]
    return UserError(
        f"the selection {' '.join(specs)!r} matches no node in {project_path}"
        + (f" ({'; '.join(guesses)})" if guesses else "")
        + f": check its spelling (`dbt {' '.join(listing)} --select ...` lists what exists)"
        + (", or pass --allow-empty" if allow_empty_flag else "")
    )


def node_names(manifest: Path) -> list[str]:
    """Every model, seed, snapshot and source table name in a dbt manifest (none if unread)."""
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    names = [node["name"] for node in data.get("nodes", {}).values() if "name" in node]
    names += [f"{s['source_name']}.{s['name']}" for s in data.get("sources", {}).values()]
    return sorted(set(names))


def _closest(spec: str, known: Sequence[str]) -> str | None:
    match = _AROUND_NAME.match(spec)
    name = match.group(1) if match else spec
    if not name or ":" in name or "/" in name or "*" in name:  # tag:, path:, globs: no guess
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return spec.replace(name, close[0], 1) if close else None
