"""How many of each kind of work may run at once across every worker: the sizes of the global
concurrency limits that `elt limits apply` keeps on the Prefect server. Read from the
environment only (ELT_LIMIT_<FIELD>); runs only take slots, they never size the limits, and
wait for one at most ELT_LIMIT_WAIT_SECONDS."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from orchestration.config.sources import EnvMap

__all__ = ["FleetLimits"]


class FleetLimits(BaseModel):
    airbyte_syncs: int = Field(
        default=4, ge=1, description="Airbyte sync jobs running at once, across all workers."
    )
    warehouse_builds: int = Field(
        default=1, ge=1, description="dbt commands at once per Snowflake warehouse."
    )
    wait_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Longest wait for a slot before the step fails (empty: the step's own "
        "timeout: AIRBYTE_TIMEOUT_SECONDS for a sync, an hour for a dbt command).",
    )

    def slot_wait(self, step_timeout: float) -> float:
        return self.wait_seconds or step_timeout

    env: ClassVar[EnvMap]


FleetLimits.env = EnvMap.derived(FleetLimits, "ELT_LIMIT_")
