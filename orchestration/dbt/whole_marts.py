"""The shipped project's time-partitioned marts built whole, in one statement, unless the days to
rebuild are given.

The shipped marts are dbt microbatch models by day (macros/time_partitioned.sql): `elt backfill`
rebuilds the days it is given, one batch each. A build given no days is another matter: dbt
would build a mart that has no table yet one batch per day since its `begin` (about 8,400
statements per mart over the embedded data's 23 years), and one that has a table only its last
days (`lookback`), missing a late row from last week. So `elt transform` and `elt run` build
them with the var `marts_whole: true`, with which the macro makes each a plain table: the same
rows as a full rebuild, in one statement, and a table that backfills then rebuild by day. Plain
dbt does the same with `dbt build --vars '{marts_whole: true}'`.

Only the shipped project's switch (`time_partitioned_marts: true` in its `dbt_project.yml`)
turns this on, and a build's own vars that set either var decide instead: any other project is
built exactly as dbt builds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SWITCH_VAR = "time_partitioned_marts"  # the shipped project's: its marts by day, or tables
WHOLE_VAR = "marts_whole"
DAYS_VAR = "marts_days"  # the days an existing mart replaces, and only those


def whole_marts_vars(
    project_dir: Path, dbt_vars: Mapping[str, object] | str | None
) -> Mapping[str, object] | str | None:
    """A build's `--vars`, with `marts_whole: true` added when the project is the shipped one
    with its time-partitioned marts on and the build's own vars leave both vars unset."""
    if switch(project_dir) is not True:
        return dbt_vars
    given = _as_mapping(dbt_vars)
    if given is None or SWITCH_VAR in given or WHOLE_VAR in given:
        return dbt_vars  # text dbt will refuse itself, or the user's own choice
    return {**given, WHOLE_VAR: True}


def with_days(
    dbt_vars: Mapping[str, object] | str | None, days: list[str]
) -> Mapping[str, object] | str | None:
    """A build's `--vars` with `marts_days`: the time-partitioned marts replace those days only
    (text that is not a mapping is left for dbt to refuse)."""
    given = _as_mapping(dbt_vars)
    return dbt_vars if given is None else {**given, DAYS_VAR: days}


def switch(project_dir: Path) -> object:
    """The value of the shipped project's var `time_partitioned_marts` in the project's
    `dbt_project.yml`; None when it has no such var (or no readable file)."""
    try:
        settings = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    variables = settings.get("vars") if isinstance(settings, dict) else None
    return variables.get(SWITCH_VAR) if isinstance(variables, dict) else None


def _as_mapping(dbt_vars: Mapping[str, object] | str | None) -> dict[str, Any] | None:
    """`--vars` as a mapping (text is YAML, as dbt reads it); None for text that is not one."""
    if not dbt_vars:
        return {}
    if isinstance(dbt_vars, str):
        try:
            dbt_vars = yaml.safe_load(dbt_vars)
        except yaml.YAMLError:
            return None
    return dict(dbt_vars) if isinstance(dbt_vars, Mapping) else None


__all__ = ["DAYS_VAR", "SWITCH_VAR", "WHOLE_VAR", "switch", "whole_marts_vars", "with_days"]
