"""`elt serve`: the deployments of `prefect.yaml`, served by this process (no work pool).

The deployments are read from `prefect.yaml` itself, so served and deployed schedules,
parameters and concurrency limits cannot drift apart.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval, Schedule

from orchestration.config import REPO_ROOT
from orchestration.errors import ConfigError

PREFECT_YAML = REPO_ROOT / "prefect.yaml"


def load_flow(entrypoint: str) -> Any:
    """`orchestration/flows/x.py:name` -> the flow object, imported as a module."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def schedule_of(spec: dict[str, Any]) -> Schedule:
    timezone = spec.get("timezone", "UTC")
    if "cron" in spec:
        return Cron(spec["cron"], timezone=timezone)
    if "interval" in spec:
        return Interval(float(spec["interval"]), timezone=timezone)
    raise ConfigError(f"prefect.yaml: unsupported schedule {spec}: use cron or interval")


def served_deployments(
    path: Path = PREFECT_YAML, only: list[str] | None = None
) -> list[RunnerDeployment]:
    """The deployments of `path` (those named in `only`, when given) as served deployments."""
    specs = yaml.safe_load(path.read_text())["deployments"]
    names = [spec["name"] for spec in specs]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ConfigError(
            f"--only {', '.join(unknown)}: no such deployment in {path.name}; "
            f"choose from {', '.join(names)}"
        )
    deployments = []
    for spec in specs:
        if only and spec["name"] not in only:
            continue
        limit = spec.get("concurrency_limit")
        deployments.append(
            load_flow(spec["entrypoint"]).to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=spec.get("tags"),
                parameters=spec.get("parameters"),
                schedules=[schedule_of(s) for s in spec.get("schedules") or []],
                concurrency_limit=ConcurrencyLimitConfig(**limit) if limit else None,
            )
        )
    return deployments


def serve(only: list[str] | None = None) -> None:
    from prefect import serve as prefect_serve

    prefect_serve(*served_deployments(only=only))
