"""`airbyte_sync`: run the Airbyte sync(s) and publish what they loaded.

With AIRBYTE_SERVER_URL set, each connection is synced over the Airbyte API (trigger, poll,
cancel on timeout or interruption): the ids given, or every active connection of
AIRBYTE_WORKSPACE_ID (matching AIRBYTE_CONNECTIONS); without it, the embedded PyAirbyte
source-faker runs.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from orchestration.airbyte.client import AirbyteClient
from orchestration.airbyte.jobs import SyncInterrupted, check_connection_ids, sync_one
from orchestration.airbyte.models import Connection
from orchestration.airbyte.pyairbyte import FakerSync, run_embedded_sync
from orchestration.airbyte.sync_results import SyncResult
from orchestration.airbyte.workspace import (
    describe_all,
    with_endpoint_names,
    workspace_connections,
)
from orchestration.config import AirbyteConnection, Config, load_config
from orchestration.errors import AirbyteSyncFailed
from orchestration.flags import PARAMETER_ORIGINS, from_parameters
from orchestration.limits import AIRBYTE_LIMIT, fleet_slot, limit_exists
from orchestration.lineage import record as lineage
from orchestration.runtime import interrupts, milestones
from orchestration.runtime.artifacts import publish_table
from orchestration.runtime.logs import get_logger


@task(name="embedded-airbyte-sync", cache_policy=NO_CACHE)
@interrupts.cancel_on_interrupt
def embedded_sync_task(sync: FakerSync) -> SyncResult:
    return run_embedded_sync(sync)


@task(
    name="airbyte-connection-sync",
    task_run_name="sync {label}",
    cache_policy=NO_CACHE,
)
def sync_connection_task(
    client: AirbyteClient,
    connection: Connection,
    label: str,
    poll_interval: float,
    timeout: float,
    stop: threading.Event,
    slot_wait: float,
    bounded: bool = True,
) -> SyncResult | State:
    """One connection as one task run (named after the connection when its name is known):
    its status changes, attach, outage, cancel and outcome are logged under it in the UI. A
    failed sync ends the task Failed, with its result kept.

    The job holds a slot of the `airbyte-api` global limit from its start to its end, so the
    bound on jobs at once holds across every worker, not only this process (`bounded`: the
    limit exists; the fan-out asked once)."""
    slot = (
        fleet_slot(AIRBYTE_LIMIT, f"sync {label}", wait_seconds=slot_wait)
        if bounded
        else nullcontext()
    )
    try:
        with slot:
            result = sync_one(
                client,
                connection.connection_id,
                poll_interval=poll_interval,
                timeout=timeout,
                stop=stop,
            )
    except (SyncInterrupted, interrupts.Stopped):  # its job, if it had started, was cancelled
        return Cancelled(message=f"sync of {label} cancelled: {interrupts.signal_name()}")
    result = replace(
        result,
        connection_name=connection.name,
        connection_streams=connection.streams,
        source_name=connection.source_name,
        destination_name=connection.destination_name,
    )
    return result if result.succeeded else Failed(message=result.failure_line(), data=result)


DESCRIBE_SECONDS = 5.0  # how long naming the connections may delay their syncs, at most


def connections_to_sync(
    config: Config, client: AirbyteClient, connection_ids: list[str]
) -> list[Connection]:
    """The connections to sync, with their names, streams, sources and destinations: the ids
    given (each read from Airbyte), or else the workspace's active connections matching
    AIRBYTE_CONNECTIONS. Reading names is bounded by DESCRIBE_SECONDS: an Airbyte that does
    not answer leaves ids alone, and the syncs report why."""
    airbyte = config.airbyte
    deadline = time.monotonic() + DESCRIBE_SECONDS
    if connection_ids or not airbyte.workspace_id:
        ids = check_connection_ids(connection_ids)
        described = describe_all(client, ids, deadline=deadline)
        return with_endpoint_names(client, described, workspace_id=None, deadline=deadline)
    chosen = workspace_connections(client, airbyte.workspace_id, airbyte.connection_names)
    return with_endpoint_names(client, chosen, workspace_id=airbyte.workspace_id, deadline=deadline)


def api_sync(config: Config, connection_ids: list[str]) -> list[SyncResult]:
    """Every connection as a Prefect task on a thread pool of `max_concurrent` workers. If the
    flow run is cancelled or the process is told to stop, every running Airbyte job is
    cancelled before the interruption goes on."""
    config.require_airbyte(connection_ids)
    with config.airbyte.client() as client:
        targets = connections_to_sync(config, client, connection_ids)
        slot_wait = config.limits.slot_wait(config.airbyte.timeout_seconds)
        return _sync_all(client, config.airbyte, targets, slot_wait)


def _sync_all(
    client: AirbyteClient,
    airbyte: AirbyteConnection,
    targets: list[Connection],
    slot_wait: float,
) -> list[SyncResult]:
    stop = threading.Event()
    bounded = limit_exists(AIRBYTE_LIMIT)
    if not bounded:
        get_logger().info(
            "No global concurrency limit %r on the Prefect server: these syncs are bounded by "
            "AIRBYTE_MAX_CONCURRENT_SYNCS in this run only (`elt limits apply` creates it)",
            AIRBYTE_LIMIT,
        )
    with ThreadPoolTaskRunner[Any](max_workers=airbyte.max_concurrent_syncs) as runner:
        futures: list[PrefectFuture[Any]] = [
            runner.submit(
                sync_connection_task,
                parameters={
                    "client": client,
                    "connection": target,
                    "label": target.name or target.connection_id,
                    "poll_interval": airbyte.poll_interval_seconds,
                    "timeout": airbyte.timeout_seconds,
                    "stop": stop,
                    "slot_wait": slot_wait,
                    "bounded": bounded,
                },
            )
            for target in targets
        ]
        try:
            while wait(futures, timeout=0.5).not_done:  # short waits: signals get through
                pass
        except BaseException as exc:
            interrupts.is_interruption(exc)  # Ctrl-C/SIGTERM: every wait of the syncs ends
            stop.set()
            wait(futures)  # each running sync cancels its job before returning
            raise
        return [
            _result(future, t.connection_id) for future, t in zip(futures, targets, strict=True)
        ]


def _result(future: PrefectFuture[Any], connection_id: str) -> SyncResult:
    try:
        result = future.result(raise_on_failure=False)
    except Exception as exc:  # the task could not run at all
        return SyncResult(connection_id=connection_id, status="error", error=str(exc))
    if isinstance(result, SyncResult):
        return result
    return SyncResult(connection_id=connection_id, status="error", error=str(result))


@flow(name="airbyte-sync", log_prints=True)
@interrupts.cancel_on_interrupt
def airbyte_sync(
    connection_ids: list[str] | None = None,
    max_concurrent: int | None = None,
    faker_count: int | None = None,
    faker_seed: int | None = None,
    block_name: str | None = None,
) -> list[SyncResult]:
    """Sync Airbyte connections; with no AIRBYTE_SERVER_URL, the embedded source-faker.

    `block_name` takes the Airbyte settings from the blocks saved under that name."""
    parameters = {
        "faker_count": faker_count,
        "faker_seed": faker_seed,
        "max_concurrent": max_concurrent,
    }
    config = load_config(block_name, from_parameters(parameters), PARAMETER_ORIGINS)
    milestones.expect(milestones.SYNCED)
    if config.airbyte.embedded:
        results = [interrupts.unless_cancelled(embedded_sync_task(config.faker_sync()))]
    else:
        results = api_sync(config, connection_ids or config.airbyte.connection_ids)
    if all(r.succeeded for r in results):
        milestones.reached(milestones.SYNCED)
    lineage.syncs(
        config,
        results,
        {r.connection_id: r.connection_streams or tuple(config.airbyte.streams) for r in results},
    )
    publish_table(
        "airbyte-sync-results",
        [row for r in results for row in r.table_rows()],
        "Airbyte sync results: each connection (stream `*`), then each of its streams",
    )
    if any(not r.succeeded for r in results):
        raise AirbyteSyncFailed(results)
    return results


if __name__ == "__main__":
    from orchestration.server.local_server import run_as_script

    run_as_script(airbyte_sync)
