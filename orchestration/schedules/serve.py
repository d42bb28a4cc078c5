"""`elt serve`: the deployments of `prefect.yaml`, served by this process (no work pool).

The deployments are read from `prefect.yaml` itself, so served and deployed schedules,
parameters and concurrency limits cannot drift apart.

Stopping (Ctrl-C, SIGTERM) ends the process within `stop_within` seconds in every phase:
while the deployments register, and while the runner polls or runs flows (Prefect's runner
cancels its runs); then the schedules registered so far are paused, as nobody runs them.
Prefect's own `serve` replaces the SIGTERM handler with one that calls the runner's async
`stop` without awaiting it (a RuntimeWarning) and exits from inside the event loop, pauses
nothing when stopped before its runner started, and has no deadline.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.runner import Runner
from prefect.schedules import Cron, Interval, Schedule

from orchestration.config import REPO_ROOT
from orchestration.errors import ConfigError
from orchestration.runtime import interrupts

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


def serve_stop_seconds() -> float:
    """ELT_SERVE_STOP_SECONDS (the environment, then .env), else 25."""
    from orchestration.config.local_settings import local_settings

    return local_settings().elt_serve_stop_seconds


class _Runner(Runner):
    """Prefect's runner, its SIGTERM handled as ours (`serve`) instead of by its own handler,
    which calls the async `stop` without awaiting it and exits from inside the event loop."""

    on_signal: Callable[[int, Any], None] | None = None

    def handle_sigterm(self, signum: int, frame: Any) -> None:
        assert self.on_signal is not None
        self.on_signal(signum, frame)


def serve(
    only: list[str] | None = None,
    say: Callable[[str], None] = print,
    stop_within: float = 25.0,
) -> str:
    """Register the deployments and run their schedules here until a signal stops it, then
    end within `stop_within` seconds whatever hangs; returns the signal's name."""
    interrupts.exit_when_stop_overruns(stop_within, "elt serve")
    registered: list[UUID] = []
    try:
        deployments = served_deployments(only=only)
        runner = _Runner(pause_on_shutdown=False)  # `_pause`, whenever the stop comes
        say(f"registering {len(deployments)} deployments...")
        for deployment in deployments:
            if interrupts.STOP.is_set():
                break
            registered.append(cast(UUID, runner.add_deployment(deployment)))  # sync: a UUID
        else:
            names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
            say(
                f"serving {names}: their scheduled and triggered runs run in this process's "
                "children; Ctrl-C or SIGTERM stops serving (and pauses their schedules)"
            )
            asyncio.run(_run_until_signalled(runner))
    except KeyboardInterrupt:  # before the runner started
        if not interrupts.STOP.is_set():
            interrupts.request(signal.SIGINT)  # Ctrl-C before our handler was installed
    _pause(registered, say)
    return interrupts.signal_name()


async def _run_until_signalled(runner: _Runner) -> None:
    """Run the runner until a signal stops it: the runner's own stop, which cancels its flow
    runs (they end Cancelled, see `interrupts`); before it started, a cancel."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopping: list[asyncio.Task[None]] = []  # a reference, so the task is not collected

    async def stop() -> None:
        if runner.started:
            await runner.astop()
        else:
            main.cancel()

    def on_signal(signum: int) -> None:
        loop.call_soon_threadsafe(lambda: stopping.append(loop.create_task(stop())))

    with interrupts.calling_on_signals(on_signal) as runner.on_signal:
        if interrupts.STOP.is_set():
            return  # signalled while this was being set up
        try:
            await runner.start()
        except asyncio.CancelledError:
            if not interrupts.STOP.is_set():
                raise


def _pause(deployments: list[UUID], say: Callable[[str], None]) -> None:
    """Pause the schedules this process registered: nobody runs them once it is gone, whether
    the stop came before its runner started or after (Prefect's runner pauses only after)."""
    if not deployments:
        return
    from prefect.client.orchestration import get_client

    with interrupts.shielded(), get_client(sync_client=True) as client:
        for deployment_id in deployments:
            client.pause_deployment(deployment_id)
    say(f"paused the schedules of the {len(deployments)} deployments served")
