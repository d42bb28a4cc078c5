"""`airbyte_sync`: run the Airbyte sync(s) and publish what they loaded.

With AIRBYTE_SERVER_URL set, each connection is synced over the Airbyte API (trigger, poll,
cancel on timeout or interruption); without it, the embedded PyAirbyte source-faker runs.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from orchestration.airbyte.client import AirbyteClient
from orchestration.airbyte.embedded import run_embedded_sync
from orchestration.airbyte.jobs import sync_many
from orchestration.airbyte.results import SyncResult
from orchestration.artifacts import publish_table
from orchestration.errors import StepFailed
from orchestration.settings import Settings, get_settings


@task(name="embedded-airbyte-sync", cache_policy=NO_CACHE)
def embedded_sync_task(settings: Settings) -> SyncResult:
    return run_embedded_sync(settings)


def api_sync(
    settings: Settings, connection_ids: list[str], max_concurrent: int
) -> list[SyncResult]:
    settings.require_airbyte(connection_ids)
    with AirbyteClient(settings.airbyte_api_config()) as client:
        return sync_many(
            client,
            connection_ids,
            poll_interval=settings.airbyte_poll_interval_seconds,
            timeout=settings.airbyte_timeout_seconds,
            max_concurrent=max_concurrent,
        )


@flow(name="airbyte-sync", log_prints=True)
def airbyte_sync(
    connection_ids: list[str] | None = None,
    max_concurrent: int | None = None,
    faker_count: int | None = None,
    faker_seed: int | None = None,
    block_name: str | None = None,
) -> list[SyncResult]:
    """Sync Airbyte connections; with no AIRBYTE_SERVER_URL, the embedded source-faker.

    `block_name` takes the Airbyte settings from the blocks saved under that name."""
    settings = get_settings(block_name, faker_count=faker_count, faker_seed=faker_seed)
    if settings.embedded_airbyte:
        results = [embedded_sync_task(settings)]
    else:
        results = api_sync(
            settings,
            connection_ids or settings.connection_ids,
            max_concurrent or settings.airbyte_max_concurrent_syncs,
        )
    rows = [{**r.as_row(), **{f"rows_{k}": v for k, v in r.streams.items()}} for r in results]
    publish_table("airbyte-sync-results", rows, "Airbyte sync results: one row per connection")
    failed = [r for r in results if not r.succeeded]
    if failed:
        raise StepFailed("\n".join(r.failure_line() for r in failed))
    return results


if __name__ == "__main__":
    airbyte_sync()
