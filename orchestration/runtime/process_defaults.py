"""The Prefect settings this project's own processes run with unless the user set them:
Prefect's telemetry off (dbt's is turned off where dbt runs, `orchestration.dbt.runner`);
room for an ephemeral Prefect API's first start, which migrates its database and takes
longer than Prefect's 20 s default on a small machine; and a flow-run heartbeat every
`HEARTBEAT_SECONDS` (Prefect's default is 180 s), which `automations/flow-run-lost.yaml`
relies on.

Nothing is set when the package is imported. A process of ours applies them when it starts:
`elt` (`orchestration.cli.entry.main`, before anything imports Prefect) writes them as
environment defaults, which the processes it starts (a local server, the runs of `elt serve`)
inherit; `python -m orchestration.flows.<name>`, which imported Prefect first, runs its flow
with them as Prefect settings defaults (`as_prefect_defaults`). A worker's flow runs get them
from the work pools' base job templates (`deploy/`) and the image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from orchestration.runtime.heartbeats import HEARTBEAT_SECONDS

DEFAULTS: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
}


def apply_to_environment() -> None:
    """Each default that the environment does not set, set in it: for a process that has not
    imported Prefect yet (Prefect reads its settings once, at import)."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


@contextmanager
def as_prefect_defaults() -> Iterator[None]:
    """The Prefect defaults as settings defaults of the current settings context (a value the
    user set stays), for a process that imported Prefect before it could apply them."""
    import prefect.settings
    from prefect.settings import temporary_settings

    ours = {
        getattr(prefect.settings, name): value  # the settings by their variable's name
        for name, value in DEFAULTS.items()
    }
    with temporary_settings(set_defaults=ours):
        yield


__all__ = ["DEFAULTS", "apply_to_environment", "as_prefect_defaults"]
