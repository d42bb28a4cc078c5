"""When each model with an SLA last built successfully, per dbt target, kept on the Prefect
server (a Variable) so that a freshness check on any worker can tell whether a mart met its
deadline."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from prefect.variables import Variable

from orchestration.dbt.run_results import NodeResult


def variable_name(target_name: str) -> str:
    return "elt_dbt_builds_" + re.sub(r"[^a-z0-9_]", "_", target_name.lower())


def load_builds(target_name: str) -> dict[str, datetime]:
    value = Variable.get(variable_name(target_name), default=None)
    if not isinstance(value, dict):
        return {}
    return {str(k): datetime.fromisoformat(str(v)) for k, v in value.items()}


def record_builds(target_name: str, nodes: Iterable[NodeResult], finished_at: datetime) -> None:
    """Remember the models with an SLA that this build completed."""
    built = [
        n.name for n in nodes if n.has_sla and n.resource_type == "model" and n.status == "success"
    ]
    record_current(target_name, built, finished_at)


def record_current(target_name: str, models: Iterable[str], at: datetime) -> None:
    """Remember that these models hold, at `at`, what a build then would write: built then,
    or reused by a change-driven build because nothing they read had changed."""
    models = list(models)
    if not models:
        return
    value = {k: v.isoformat() for k, v in load_builds(target_name).items()}
    value.update(dict.fromkeys(models, at.isoformat()))
    Variable.set(variable_name(target_name), value, overwrite=True)
