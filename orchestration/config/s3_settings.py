"""S3: the landing bucket and prefix as prefect-aws's own `S3Bucket` (with its
`AwsCredentials`), and how the sensor watches it. The AWS clients come from `AwsCredentials`
as it is: keys, profile, role to assume, region and endpoint, or boto3's own chain."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.s3 import S3Bucket
from pydantic import Field

from orchestration.config.sources import EnvMap

__all__ = ["S3SensorConfig"]

DEFAULT_BUCKET = "my-data-lake-landing"
DEFAULT_PREFIX = "inbound/"
CLIENT_CONFIG = {
    "retries": {"mode": "standard", "max_attempts": 5},  # throttling, 5xx, connection errors
    "connect_timeout": 10,
    "read_timeout": 60,  # longer than an SQS long poll (20 s), so a receive is never cut short
}


def _default_bucket() -> S3Bucket:
    return S3Bucket(bucket_name=DEFAULT_BUCKET, bucket_folder=DEFAULT_PREFIX)


class S3SensorConfig(Block):
    """The S3 landing zone the `s3_sensor` flow watches, and how it watches it."""

    _block_type_name = "ELT S3 Sensor"
    _description = "Landing bucket/prefix (an S3Bucket block) and the s3_sensor's polling."

    bucket: S3Bucket = Field(default_factory=_default_bucket, description="Bucket and prefix.")
    poll_interval_seconds: float = Field(default=30, gt=0, allow_inf_nan=False)
    sensor_deployment: str = Field(default="", description="Deployment started per batch.")
    key_layout: Literal["any", "arrival-day"] = Field(
        default="any",
        description="any: list the whole prefix every poll; arrival-day: keys sit under the "
        "day they arrive (yyyy/mm/dd/...), polls list recent days, full listings run too.",
    )
    lookback_partitions: int = Field(default=1, ge=0)
    full_scan_every_seconds: float = Field(default=3600, gt=0, allow_inf_nan=False)
    events_queue_url: str = Field(default="", description="SQS queue of S3 notifications.")
    sensor_lookback_seconds: float = Field(
        default=3600,
        gt=0,
        allow_inf_nan=False,
        description="How long after its LastModified an object may first become visible.",
    )
    sensor_lease_seconds: float = Field(
        default=60, ge=1, allow_inf_nan=False, description="A dead sensor frees its prefix."
    )

    env: ClassVar[EnvMap]

    @property
    def bucket_name(self) -> str:
        return self.bucket.bucket_name

    @property
    def prefix(self) -> str:
        return self.bucket.bucket_folder

    @property
    def credentials(self) -> AwsCredentials:
        return self.bucket.credentials  # type: ignore[return-value]

    def client(self, service: str) -> Any:
        """A boto3 client (`s3`, `sqs`) from the bucket's credentials, with standard retries."""
        credentials = self.credentials.model_copy(deep=True)
        credentials.aws_client_parameters.config = CLIENT_CONFIG
        return credentials.get_client(service)


S3SensorConfig.env = EnvMap.derived(
    S3SensorConfig,
    "S3_",
    renames={
        "bucket": EnvMap(
            S3Bucket,
            {
                "bucket_name": "S3_BUCKET",
                "bucket_folder": "S3_PREFIX",
                "credentials": EnvMap(
                    AwsCredentials,
                    {
                        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
                        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
                        "aws_session_token": "AWS_SESSION_TOKEN",
                        "region_name": ("AWS_REGION", "AWS_DEFAULT_REGION"),
                        "aws_client_parameters": EnvMap(
                            AwsClientParameters, {"endpoint_url": "AWS_ENDPOINT_URL"}
                        ),
                    },
                ),
            },
            defaults={"bucket_name": DEFAULT_BUCKET, "bucket_folder": DEFAULT_PREFIX},
        )
    },
)
