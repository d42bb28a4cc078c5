"""`airbyte_sync`: run the Airbyte sync(s) and publish what they loaded."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from orchestration.airbyte.embedded import run_embedded_sync
from orchestration.airbyte.results import SyncResult
from orchestration.artifacts import publish_table
from orchestration.errors import ConfigError, StepFailed
from orchestration.settings import Settings, get_settings


@task(name="embedded-airbyte-sync", cache_policy=NO_CACHE)
def embedded_sync_task(settings: Settings) -> SyncResult:
    return run_embedded_sync(settings)


@flow(name="airbyte-sync", log_prints=True)
def airbyte_sync(
    faker_count: int | None = None,
    faker_seed: int | None = None,
) -> list[SyncResult]:
    """Sync Airbyte connections; with no AIRBYTE_SERVER_URL, the embedded source-faker."""
    settings = get_settings(faker_count=faker_count, faker_seed=faker_seed)
    if not settings.embedded_airbyte:
        raise ConfigError(
            "AIRBYTE_SERVER_URL is set but the Airbyte HTTP API backend is not available in "
            "this version: unset AIRBYTE_SERVER_URL to use the embedded Airbyte"
        )
    results = [embedded_sync_task(settings)]
    rows = [{**r.as_row(), **{f"rows_{k}": v for k, v in r.streams.items()}} for r in results]
    publish_table("airbyte-sync-results", rows, "Airbyte sync results: one row per connection")
    failed = [r for r in results if not r.succeeded]
    if failed:
        raise StepFailed(
            "; ".join(f"connection {r.connection_id} job {r.job_id}: {r.status}" for r in failed)
        )
    return results


if __name__ == "__main__":
    airbyte_sync()
