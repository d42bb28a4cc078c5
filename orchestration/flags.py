"""Settings that a command-line flag and a flow parameter also set, each declared once.

A setting has one home: its field on a configuration model, read from its environment variable
(`EnvMap`). When a flag and a flow parameter also set it, this table says so, once: the flag,
the flow parameter, the type on the command line and the help. Everything else is derived from
it: the `elt` options (`orchestration.cli._options.setting_flags`), the overrides a flow
applies from its parameters (`from_parameters`), and which flag or parameter an error names
(`FLAG_ORIGINS`, `PARAMETER_ORIGINS`). `tests/unit/test_config.py` checks every entry against
its model (the field exists, the type fits, the help names the variable) and against the flows
(the parameter exists with that name).

Adding a setting that is also a flag is one edit here (after the field on its model). The
table lives apart from the models (and outside `orchestration.config`, which loads them all)
because the models import Prefect, prefect-aws and prefect-snowflake: `elt --help` and a
mistyped flag must not wait seconds for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FLAG_ORIGINS", "PARAMETER_ORIGINS", "SETTINGS", "Setting", "from_parameters"]


@dataclass(frozen=True)
class Setting:
    """A setting (`domain.field`, nested fields dotted) a flag and a flow parameter also set."""

    key: str
    flag: str  # e.g. "--target"
    type: Any  # the value's type on the command line (None when not given)
    help: str  # what it sets, naming the environment variable that also sets it
    parameter: str = (
        ""  # the flow parameter; by default the flag's name: --project-dir -> project_dir
    )

    @property
    def parameter_name(self) -> str:
        return self.parameter or self.flag.removeprefix("--").replace("-", "_")


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting(
            "embedded.faker_count",
            "--count",
            int,
            "Embedded faker: records per stream (FAKER_COUNT).",
            parameter="faker_count",
        ),
        Setting(
            "embedded.faker_seed",
            "--seed",
            int,
            "Embedded faker: seed for repeatable data (FAKER_SEED).",
            parameter="faker_seed",
        ),
        Setting(
            "airbyte.max_concurrent_syncs",
            "--max-concurrent",
            int,
            "Syncs running at once (AIRBYTE_MAX_CONCURRENT_SYNCS).",
        ),
        Setting("dbt.target", "--target", str, "dbt target (DBT_TARGET)."),
        Setting("dbt.threads", "--threads", int, "dbt threads (DBT_THREADS)."),
        Setting("dbt.project_dir", "--project-dir", str, "dbt project folder (DBT_PROJECT_DIR)."),
        Setting(
            "dbt.profiles_dir", "--profiles-dir", str, "Folder of profiles.yml (DBT_PROFILES_DIR)."
        ),
        Setting("s3.bucket.bucket_name", "--bucket", str, "Bucket (S3_BUCKET)."),
        Setting("s3.bucket.bucket_folder", "--prefix", str, "Key prefix (S3_PREFIX)."),
        Setting(
            "s3.poll_interval_seconds",
            "--poll-interval",
            float,
            "Seconds between polls; event mode: longest wait for a message "
            "(S3_POLL_INTERVAL_SECONDS).",
        ),
        Setting(
            "s3.sensor_deployment",
            "--deployment",
            str,
            "Deployment started per batch (S3_SENSOR_DEPLOYMENT), e.g. flow/name.",
        ),
        Setting(
            "s3.key_layout",
            "--layout",
            Literal["any", "arrival-day"],
            "Key layout (S3_KEY_LAYOUT): 'any' lists the whole prefix every poll; "
            "'arrival-day' lists recent day partitions, with a full listing every "
            "--full-scan-every.",
        ),
        Setting(
            "s3.full_scan_every_seconds",
            "--full-scan-every",
            float,
            "Seconds between full listings in arrival-day and event modes "
            "(S3_FULL_SCAN_EVERY_SECONDS).",
        ),
        Setting(
            "s3.events_queue_url",
            "--events-queue",
            str,
            "SQS queue URL of the bucket's S3 notifications (S3_EVENTS_QUEUE_URL).",
        ),
        Setting(
            "options.freshness_threshold_hours",
            "--threshold-hours",
            float,
            "Hours after which a table without an SLA of its own is stale "
            "(FRESHNESS_THRESHOLD_HOURS).",
        ),
    )
}

FLAG_ORIGINS = {key: s.flag for key, s in SETTINGS.items()}
PARAMETER_ORIGINS = {key: f"parameter {s.parameter_name}" for key, s in SETTINGS.items()}
_BY_PARAMETER = {s.parameter_name: key for key, s in SETTINGS.items()}


def from_parameters(parameters: Mapping[str, object]) -> dict[str, object]:
    """Flow parameters (or CLI values) by parameter name, as overrides by setting key. A name
    that sets no setting is a programming error, raised at once."""
    unknown = sorted(set(parameters) - set(_BY_PARAMETER))
    if unknown:
        raise TypeError(f"not parameters of a setting: {', '.join(unknown)}")
    return {_BY_PARAMETER[name]: value for name, value in parameters.items()}
