"""`elt sensor`: watch an S3 prefix; `elt sensor setup-events`: its S3 notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer

from orchestration.cli._options import FLAG_ORIGINS, BlockName, Settings, overrides, setting_flags
from orchestration.cli._output import line, status
from orchestration.cli._policy import configure, guarded, run_flow

if TYPE_CHECKING:
    from orchestration.sensors.s3 import PollStats

__all__ = ["app"]

app = typer.Typer(
    help="Watch an S3 prefix; print (or hand to a deployment) each batch of new objects.",
    invoke_without_command=True,
)


@app.callback()
@setting_flags(
    "s3.bucket.bucket_name",
    "s3.bucket.bucket_folder",
    "s3.poll_interval_seconds",
    "s3.sensor_deployment",
    "s3.key_layout",
    "s3.full_scan_every_seconds",
    "s3.events_queue_url",
)
def sensor(
    ctx: typer.Context,
    settings: Settings,
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
    batch_size: Annotated[int, typer.Option(min=1, help="Objects per batch.")] = 100,
    block: BlockName = None,
) -> None:
    """Watch an S3 prefix; print (or hand to a deployment) each batch of new objects.

    Keys go to stdout, one per line; progress and errors go to stderr."""
    if ctx.invoked_subcommand:
        return
    from orchestration.flows.s3_sensor import s3_sensor

    config = configure(block, overrides(settings), FLAG_ORIGINS, uses_server=True)
    stats = run_flow(
        config,
        lambda: cast(
            "PollStats",
            s3_sensor(
                max_polls=max_polls,
                max_runtime=max_runtime,
                start=start,
                batch_size=batch_size,
                block_name=block,
                **settings,
            ),
        ),
    )
    status(
        f"s3 sensor: {stats.polls} polls, {stats.objects} new objects in {stats.batches} "
        f"batches, {stats.list_requests} list requests, {stats.receives} queue receives, "
        f"{stats.errors} errors"
    )


@app.command("setup-events")
@setting_flags("s3.bucket.bucket_name", "s3.bucket.bucket_folder")
def setup_events(
    settings: Settings,
    queue: Annotated[str, typer.Option(help="SQS queue name or URL.")],
    block: BlockName = None,
) -> None:
    """Send the bucket's s3:ObjectCreated:* events under the prefix to an SQS queue
    (idempotent: run it again, nothing changes)."""
    from orchestration.sensors.notifications import setup_events as set_up

    s3_config = configure(block, overrides(settings), FLAG_ORIGINS).s3

    def apply() -> list[str]:
        s3, sqs = s3_config.client("s3"), s3_config.client("sqs")
        return set_up(s3, sqs, s3_config.bucket_name, s3_config.prefix, queue)

    for text in guarded(apply):
        line(text)
