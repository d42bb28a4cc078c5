"""Bounds that hold across every worker: Prefect global concurrency limits.

A worker-local bound (AIRBYTE_MAX_CONCURRENT_SYNCS, dbt threads) stops holding once several
workers run at once. These limits live on the Prefect server instead:

- `airbyte-api`: each Airbyte sync job holds a slot from its start to its end;
- `snowflake-warehouse-<name>`: each dbt command on a Snowflake target holds a slot of its
  warehouse's limit.

Runs only take slots (`slots`); `elt limits apply` creates or resizes the limits (sizes from
ELT_LIMIT_*), `elt limits show` lists them with who holds their slots, `elt limits repair`
frees the slots no live run holds (`admin`). A limit that does not exist is not enforced, so
a laptop run without `elt limits apply` works as before.

Slots are leases: renewed while the work runs, freed within `LEASE_SECONDS` of a holder that
died. Losing contact with the Prefect API never stops the work: abandoning (and so
cancelling) an Airbyte job that runs fine would be worse than exceeding a bound for a while.
"""

from orchestration.limits.admin import (
    Repaired,
    WantedLimit,
    apply,
    limits_to_repair,
    repair,
    show,
    wanted_limits,
)
from orchestration.limits.names import AIRBYTE_LIMIT, LEASE_SECONDS, warehouse_limit
from orchestration.limits.slots import fleet_slot, limit_exists, warehouse_slot

__all__ = [
    "AIRBYTE_LIMIT",
    "LEASE_SECONDS",
    "Repaired",
    "WantedLimit",
    "apply",
    "fleet_slot",
    "limit_exists",
    "limits_to_repair",
    "repair",
    "show",
    "wanted_limits",
    "warehouse_limit",
    "warehouse_slot",
]
