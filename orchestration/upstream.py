"""The one home of every private name of Prefect, dbt or an adapter that this project uses.

A name that starts with `_` is no promise: a minor release may rename it, change its
signature or drop it. Each use lives here, as one function per need, with the symbol it
relies on declared in `PRIVATE` and the reason no public API serves. `tests/unit/test_upstream.py`
resolves every entry against the installed packages and fails with one line naming the
symbol when upstream changed it; `make lint` (scripts/check_private_names.py) fails on a
private upstream name used anywhere else, tests included.

What each function does when its symbol is gone is decided per need: an optimisation (the
heartbeat join) degrades to Prefect's own behaviour; a test helper raises `UpstreamChanged`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = [
    "PRIVATE",
    "Private",
    "UpstreamChanged",
    "control_intent",
    "heartbeat_sender",
    "leave_heartbeat_threads_unjoined",
    "process_wide_settings",
    "replace_api_key_with_secret",
    "using_heartbeat_sender",
]


class UpstreamChanged(RuntimeError):
    """A private upstream symbol this project relies on is gone or has another signature."""


@dataclass(frozen=True)
class Private:
    """One private upstream symbol: where it lives, the parameters we call it with, and why
    no public API serves."""

    distribution: str  # the package on the registry, for the version in the message
    module: str
    qualname: str  # attribute path inside the module, e.g. "Class._method"
    parameters: tuple[str, ...]  # the names we pass (a subset of its signature)
    why: str

    @property
    def symbol(self) -> str:
        return f"{self.module}.{self.qualname}"

    def resolve(self) -> Any:
        """The symbol itself, or UpstreamChanged naming it, the installed version and why
        we use it."""
        try:
            found: Any = importlib.import_module(self.module)
            for part in self.qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            raise self.changed("is gone") from None
        if self.parameters:
            try:
                accepted = inspect.signature(found).parameters
            except (TypeError, ValueError):
                raise self.changed("is no longer a function") from None
            missing = [p for p in self.parameters if p not in accepted]
            if missing:
                raise self.changed(f"no longer takes {', '.join(missing)}")
        return found

    def changed(self, what: str) -> UpstreamChanged:
        try:
            installed = f"{self.distribution} {version(self.distribution)}"
        except PackageNotFoundError:
            installed = f"{self.distribution} (not installed)"
        return UpstreamChanged(
            f"{self.symbol} {what} in {installed}: it is used for {self.why}; "
            "adapt orchestration/upstream.py or pin the last version that has it"
        )


SEND_HEARTBEATS = Private(
    "prefect",
    "prefect.flow_engine",
    "_send_heartbeats",
    ("engine", "join_on_exit"),
    "ending a synchronous flow run without joining its heartbeat thread (Prefect 3.9's "
    "synchronous engine joins it for up to 2 s; no setting turns that off)",
)
CONTROL_INTENT = Private(
    "prefect",
    "prefect._internal.control_listener",
    "get_intent",
    (),
    "telling a supervisor's SIGTERM that reschedules the run from a cancel (the intent "
    "`prefect flow-run execute` delivers before the signal has no public reader)",
)
GLOBAL_SETTINGS = Private(
    "prefect",
    "prefect.context",
    "_temporary_global_settings_context",
    ("settings_context",),
    "pointing threads that do not copy the context (dbt's) at a test's Prefect server, as "
    "Prefect's own test harness does",
)
KUBERNETES_API_KEY_SECRET = Private(
    "prefect-kubernetes",
    "prefect_kubernetes.worker",
    "KubernetesWorker._replace_api_key_with_secret",
    ("configuration", "client", "secret_name", "secret_key"),
    "rendering the Job a Kubernetes worker creates offline, with the API key moved into its "
    "Secret as the worker does before it submits the Job",
)

PRIVATE: tuple[Private, ...] = (
    SEND_HEARTBEATS,
    CONTROL_INTENT,
    GLOBAL_SETTINGS,
    KUBERNETES_API_KEY_SECRET,
)

_UNJOINED = "_elt_unjoined"  # marks our wrapper of the heartbeat sender


def heartbeat_sender() -> Callable[..., AbstractContextManager[None]]:
    """The flow engine's heartbeat context manager as Prefect ships it (ours unwrapped)."""
    current = SEND_HEARTBEATS.resolve()
    return getattr(current, _UNJOINED, current)


@contextlib.contextmanager
def using_heartbeat_sender(sender: Callable[..., AbstractContextManager[None]]) -> Iterator[None]:
    """While inside, the flow engine calls `sender` instead of its own (a test's spy)."""
    import prefect.flow_engine as flow_engine

    before = SEND_HEARTBEATS.resolve()
    setattr(flow_engine, SEND_HEARTBEATS.qualname, sender)
    try:
        yield
    finally:
        setattr(flow_engine, SEND_HEARTBEATS.qualname, before)


def leave_heartbeat_threads_unjoined() -> bool:
    """Make this process's synchronous flow runs end without joining their heartbeat thread,
    as Prefect's async engine already does (`join_on_exit=False`): the thread sees its stop
    event within a second and sends nothing more. False when Prefect changed the symbol: then
    its own behaviour stays (a slower end, nothing wrong)."""
    import prefect.flow_engine as flow_engine

    try:
        current = SEND_HEARTBEATS.resolve()
    except UpstreamChanged:
        return False
    if hasattr(current, _UNJOINED):
        return True

    def send_heartbeats(engine: Any, join_on_exit: bool = True) -> AbstractContextManager[None]:
        return current(engine, join_on_exit=False)

    setattr(send_heartbeats, _UNJOINED, current)
    setattr(flow_engine, SEND_HEARTBEATS.qualname, send_heartbeats)
    return True


def control_intent() -> str | None:
    """What Prefect's supervisor (`prefect flow-run execute`) said it means by the SIGTERM it
    sends: "cancel", "reschedule", "relinquish", or None (no supervisor, or a Prefect
    without the control channel: every stop is then a cancel)."""
    try:
        get_intent = CONTROL_INTENT.resolve()
    except UpstreamChanged:
        return None
    intent = get_intent()
    return None if intent is None else str(intent)


def process_wide_settings(settings_context: Any) -> AbstractContextManager[None]:
    """Prefect's settings for every thread of the process, those that did not copy the
    context included, until the block ends (Prefect's `prefect_test_harness` does this)."""
    manager: Callable[[Any], AbstractContextManager[None]] = GLOBAL_SETTINGS.resolve()
    return manager(settings_context)


async def replace_api_key_with_secret(
    worker: Any, configuration: Any, *, secret_name: str, secret_key: str
) -> None:
    """What prefect-kubernetes' worker does to a Job's environment before it creates the Job:
    PREFECT_API_KEY becomes a reference to the named Secret (no client needed when the Secret
    is named)."""
    KUBERNETES_API_KEY_SECRET.resolve()
    await worker._replace_api_key_with_secret(
        configuration, client=None, secret_name=secret_name, secret_key=secret_key
    )
