"""Options more than one command takes, and which flag sets which setting."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["FLAGS", "BlockName", "Count", "DryRun", "Exclude", "Seed", "Select"]

Select = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", help="dbt selection (repeatable), e.g. -s marts"),
]
Exclude = Annotated[list[str] | None, typer.Option("--exclude", help="dbt exclusion (repeatable)")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change, change nothing.")]
BlockName = Annotated[
    str | None,
    typer.Option(
        "--block",
        help="Take the configuration from the blocks saved under this name "
        "(`elt blocks register --name NAME`) instead of the environment.",
    ),
]
Count = Annotated[int | None, typer.Option(help="Embedded faker: records per stream.")]
Seed = Annotated[int | None, typer.Option(help="Embedded faker: seed for repeatable data.")]

# Which flag sets which setting: configuration errors name the flag the user typed.
FLAGS = {
    "embedded.faker_count": "--count",
    "embedded.faker_seed": "--seed",
    "airbyte.max_concurrent_syncs": "--max-concurrent",
    "dbt.target": "--target",
    "dbt.threads": "--threads",
    "dbt.project_dir": "--project-dir",
    "dbt.profiles_dir": "--profiles-dir",
    "s3.bucket.bucket_name": "--bucket",
    "s3.bucket.bucket_folder": "--prefix",
    "s3.poll_interval_seconds": "--poll-interval",
    "s3.sensor_deployment": "--deployment",
    "s3.key_layout": "--layout",
    "s3.full_scan_every_seconds": "--full-scan-every",
    "s3.events_queue_url": "--events-queue",
    "options.freshness_threshold_hours": "--threshold-hours",
}
