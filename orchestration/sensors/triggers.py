"""What the sensor does with a batch of new objects."""

from __future__ import annotations

import sys
from collections.abc import Callable

from orchestration.errors import UserError
from orchestration.runtime.artifacts import publish_table
from orchestration.sensors.cursor import S3Object

Trigger = Callable[[list[S3Object], str], str]


def print_batch(batch: list[S3Object], idempotency_key: str) -> str:
    """No deployment: print one key per line and publish the batch as an artifact."""
    # Plain lines on stdout (not through Prefect's print capture): pipe-friendly.
    sys.stdout.write("".join(f"{obj.key}\n" for obj in batch))
    sys.stdout.flush()
    publish_table(
        "s3-sensor-batch",
        [
            {"key": o.key, "last_modified": o.last_modified.isoformat(), "size": o.size}
            for o in batch
        ],
        f"New objects ({len(batch)})",
    )
    return f"printed {len(batch)} keys"


def deployment_trigger(
    deployment: str,
    parameter: str = "s3_keys",
    on_started: Callable[[list[S3Object], str, str], None] | None = None,
) -> Trigger:
    """Start `deployment` with the batch's keys, without waiting; the idempotency key makes a
    repeated trigger of the same batch return the flow run that already exists.
    `on_started(batch, flow_name, flow_run_id)` hears of each run started (lineage)."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    def trigger(batch: list[S3Object], idempotency_key: str) -> str:
        from prefect.exceptions import ObjectNotFound

        try:
            run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync: not a coroutine
                name=deployment,
                parameters={parameter: [o.key for o in batch]},
                timeout=0,
                idempotency_key=idempotency_key,
                as_subflow=False,
            )
        except ObjectNotFound:  # its message is "None": say what is missing and what to do
            raise UserError(
                f"no deployment {deployment!r} on the Prefect server to hand the new objects "
                "to: deploy it (`prefect deploy --all`), or fix --deployment / "
                "S3_SENSOR_DEPLOYMENT (FLOW_NAME/DEPLOYMENT_NAME)"
            ) from None
        if on_started is not None:
            on_started(batch, deployment.split("/", 1)[0], str(run.id))
        return f"flow run {run.name} ({run.id}) of {deployment}"

    return trigger
