"""The limits' names and the lease every slot is held under."""

from __future__ import annotations

import re

__all__ = ["AIRBYTE_LIMIT", "LEASE_GONE", "LEASE_SECONDS", "warehouse_limit"]

AIRBYTE_LIMIT = "airbyte-api"
LEASE_SECONDS = 300.0  # a slot of a holder that died frees itself within this
LEASE_GONE = 410  # Prefect's answer to renewing a lease it does not know (expired, or forgotten)


def warehouse_limit(warehouse: str) -> str:
    """`TRANSFORM_WH` -> `snowflake-warehouse-transform-wh` (limit names are slugs)."""
    slug = re.sub(r"[^a-z0-9]+", "-", warehouse.lower()).strip("-")
    return f"snowflake-warehouse-{slug}"
