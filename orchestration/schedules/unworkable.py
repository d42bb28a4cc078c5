"""A deployed schedule that can only start failing runs is paused, with one line saying why.

`make deploy-local` deploys every deployment of `prefect.yaml`. The S3 sensor watches a
landing zone; with no AWS credentials, profile or endpoint configured (the example `.env` has
none), each of its scheduled runs would fail at its first listing. So its schedule is paused
and its runs already scheduled are deleted; `prefect deploy --all` after the landing zone is
configured turns the schedule back on (prefect.yaml's schedules are active).
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from orchestration.config import load_config
from orchestration.config.s3_settings import S3SensorConfig

__all__ = ["SENSOR_DEPLOYMENT", "landing_zone_configured", "pause", "pause_if_unworkable"]

SENSOR_DEPLOYMENT = "s3-sensor/s3-sensor"


def landing_zone_configured(config: S3SensorConfig) -> bool:
    """Whether the sensor has anything to reach S3 with besides the machine's own role: keys,
    a profile, or an endpoint (a local S3 stand-in such as moto or MinIO)."""
    credentials = config.credentials
    return bool(
        credentials.aws_access_key_id
        or credentials.profile_name
        or credentials.aws_client_parameters.endpoint_url
    )


def pause(deployment: str) -> int:
    """Pause every schedule of `deployment` and delete its scheduled runs (the server keeps
    those due before the pause); how many runs were deleted."""
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        for schedule in found.schedules:
            client.update_deployment_schedule(found.id, schedule.id, active=False)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )
        for run in runs:
            client.delete_flow_run(run.id)
    return len(runs)


def pause_if_unworkable(block_name: str) -> str | None:
    """Pause the sensor's schedule when the blocks `block_name` configure no landing zone;
    the note to show, or None when it can work."""
    if landing_zone_configured(load_config(block_name).s3):
        return None
    pause(SENSOR_DEPLOYMENT)
    return (
        f"note: the {SENSOR_DEPLOYMENT} schedule is paused: no AWS credentials or endpoint is "
        "configured (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ENDPOINT_URL); set "
        "them in .env and run make deploy-local again to turn it on"
    )
