"""`elt sensor`: watch an S3 prefix; `elt sensor setup-events`: its S3 notifications."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from orchestration.cli._options import FLAGS, BlockName
from orchestration.cli._output import line, status
from orchestration.cli._policy import configure, guarded, run_flow

__all__ = ["app"]

app = typer.Typer(
    help="Watch an S3 prefix; print (or hand to a deployment) each batch of new objects.",
    invoke_without_command=True,
)

Bucket = Annotated[str | None, typer.Option(help="Bucket (S3_BUCKET).")]
Prefix = Annotated[str | None, typer.Option(help="Key prefix (S3_PREFIX).")]


@app.callback()
def sensor(
    ctx: typer.Context,
    bucket: Bucket = None,
    prefix: Prefix = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between polls; event mode: longest wait for a message "
            "(S3_POLL_INTERVAL_SECONDS)."
        ),
    ] = None,
    max_polls: Annotated[
        int | None,
        typer.Option(min=0, help="Stop after this many polls (exit 1 if one failed)."),
    ] = None,
    max_runtime: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (a new run continues).")
    ] = None,
    start: Annotated[
        Literal["beginning", "now"], typer.Option(help="Where a new cursor starts.")
    ] = "beginning",
    deployment: Annotated[
        str | None,
        typer.Option(help="Deployment started per batch (S3_SENSOR_DEPLOYMENT), e.g. flow/name."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Objects per batch.")] = 100,
    layout: Annotated[
        Literal["any", "arrival-day"] | None,
        typer.Option(
            help="Key layout (S3_KEY_LAYOUT): 'any' lists the whole prefix every poll; "
            "'arrival-day' lists recent day partitions, with a full listing every "
            "--full-scan-every."
        ),
    ] = None,
    full_scan_every: Annotated[
        float | None,
        typer.Option(
            help="Seconds between full listings in arrival-day and event modes "
            "(S3_FULL_SCAN_EVERY_SECONDS)."
        ),
    ] = None,
    events_queue: Annotated[
        str | None,
        typer.Option(help="SQS queue URL of the bucket's S3 notifications (S3_EVENTS_QUEUE_URL)."),
    ] = None,
    block: BlockName = None,
) -> None:
    """Watch an S3 prefix; print (or hand to a deployment) each batch of new objects.

    Keys go to stdout, one per line; progress and errors go to stderr."""
    if ctx.invoked_subcommand:
        return
    from orchestration.flows.sensors.s3_sensor import s3_sensor, sensor_overrides

    options: dict[str, Any] = {
        "bucket": bucket,
        "prefix": prefix,
        "poll_interval": poll_interval,
        "deployment": deployment,
        "layout": layout,
        "full_scan_every": full_scan_every,
        "events_queue": events_queue,
    }
    config = configure(block, sensor_overrides(**options), FLAGS, uses_server=True)
    stats = run_flow(
        config,
        lambda: s3_sensor(
            **options,
            max_polls=max_polls,
            max_runtime=max_runtime,
            start=start,
            batch_size=batch_size,
            block_name=block,
        ),
    )
    status(
        f"s3 sensor: {stats.polls} polls, {stats.objects} new objects in {stats.batches} "
        f"batches, {stats.list_requests} list requests, {stats.receives} queue receives, "
        f"{stats.errors} errors"
    )


@app.command("setup-events")
def setup_events(
    queue: Annotated[str, typer.Option(help="SQS queue name or URL.")],
    bucket: Bucket = None,
    prefix: Prefix = None,
    block: BlockName = None,
) -> None:
    """Send the bucket's s3:ObjectCreated:* events under the prefix to an SQS queue
    (idempotent: run it again, nothing changes)."""
    from orchestration.sensors.events import setup_events as set_up

    overrides = {"s3.bucket.bucket_name": bucket, "s3.bucket.bucket_folder": prefix}
    s3_config = configure(block, overrides, FLAGS).s3

    def apply() -> list[str]:
        s3, sqs = s3_config.client("s3"), s3_config.client("sqs")
        return set_up(s3, sqs, s3_config.bucket_name, s3_config.prefix, queue)

    for text in guarded(apply):
        line(text)
