"""The configuration: one model per domain, each its own validation and client factory.

`load_config()` reads them all once, from the environment/.env or from the blocks saved under
a name; `elt blocks register` saves these same objects.
"""

from typing import TYPE_CHECKING

from orchestration.config.airbyte_settings import AirbyteConnection
from orchestration.config.dbt_settings import DbtConfig, DbtTarget
from orchestration.config.embedded_settings import REPO_ROOT, EmbeddedConfig
from orchestration.config.fleet_limits import FleetLimits
from orchestration.config.load import (
    Config,
    PipelineOptions,
    config_scope,
    load_config,
    setting_variables,
)

if TYPE_CHECKING:
    from orchestration.config.s3_settings import S3SensorConfig
    from orchestration.config.snowflake_settings import SnowflakeConnection

__all__ = [
    "REPO_ROOT",
    "AirbyteConnection",
    "Config",
    "DbtConfig",
    "DbtTarget",
    "EmbeddedConfig",
    "FleetLimits",
    "PipelineOptions",
    "S3SensorConfig",
    "SnowflakeConnection",
    "config_scope",
    "load_config",
    "setting_variables",
]


def __getattr__(name: str) -> object:
    """S3SensorConfig and SnowflakeConnection on first use: they import prefect-aws and
    prefect-snowflake, which take seconds most commands do not need to spend."""
    if name == "S3SensorConfig":
        from orchestration.config.s3_settings import S3SensorConfig

        return S3SensorConfig
    if name == "SnowflakeConnection":
        from orchestration.config.snowflake_settings import SnowflakeConnection

        return SnowflakeConnection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
