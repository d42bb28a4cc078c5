"""Bounds that hold across every worker: Prefect global concurrency limits.

A worker-local bound (AIRBYTE_MAX_CONCURRENT_SYNCS, dbt threads) stops holding once several
workers run at once. These limits live on the Prefect server instead:

- `airbyte-api`: each Airbyte sync job holds a slot from its start to its end;
- `snowflake-warehouse-<name>`: each dbt command on a Snowflake target holds a slot of its
  warehouse's limit.

Runs only take slots; `elt limits apply` creates or resizes the limits (sizes from
ELT_LIMIT_*). A limit that does not exist is not enforced (Prefect logs that it skipped it),
so a laptop run without `elt limits apply` works as before.

Slots are leases: renewed while the work runs, freed within `LEASE_SECONDS` of a worker that
died. A failed renewal never stops the work: losing contact with the Prefect API is no reason
to abandon (and so cancel) an Airbyte job that is running fine.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

from orchestration import interrupts
from orchestration.config import Config, DbtTarget
from orchestration.errors import StepFailed, first_line
from orchestration.logs import get_logger

__all__ = [
    "AIRBYTE_LIMIT",
    "LEASE_SECONDS",
    "Applied",
    "SlotWaitTimedOut",
    "WantedLimit",
    "apply",
    "fleet_slot",
    "show",
    "wanted_limits",
    "warehouse_limit",
    "warehouse_slot",
]

AIRBYTE_LIMIT = "airbyte-api"
LEASE_SECONDS = 300.0  # Prefect's default lease; renewed at 3/4 of it while the work runs


def warehouse_limit(warehouse: str) -> str:
    """`TRANSFORM_WH` -> `snowflake-warehouse-transform-wh` (limit names are slugs)."""
    slug = re.sub(r"[^a-z0-9]+", "-", warehouse.lower()).strip("-")
    return f"snowflake-warehouse-{slug}"


SLOT_POLL_SECONDS = 2.0  # how often a run waiting for a slot asks again (with jitter)


class SlotWaitTimedOut(StepFailed):
    """No slot of a global concurrency limit came within the wait allowed."""


@contextmanager
def fleet_slot(name: str, what: str, *, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold one slot of the global concurrency limit `name` while `what` runs.

    When every slot is taken, the wait is logged once (so a run that seems idle says why),
    then the slot is asked for again every couple of seconds, for at most `wait_seconds`
    (None: no bound); past it the step fails naming the limit. Each ask is one request, so
    Ctrl-C or SIGTERM ends the wait at once (a blocking acquisition would go on in Prefect's
    loop thread and could take a slot nobody uses).

    Releasing never fails finished work: when the Prefect API cannot take the release, a
    warning says so and the slot's lease frees it within `LEASE_SECONDS`."""
    finished = False
    try:
        with ExitStack() as stack:
            _take(stack, name, what, wait_seconds)
            yield
            finished = True
    except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
        if not finished:
            raise
        get_logger().warning(
            "%s finished, but its slot of %r could not be released (%s): the slot frees "
            "itself when its lease expires, within %.0f s",
            what,
            name,
            first_line(exc),
            LEASE_SECONDS,
        )


def _take(stack: ExitStack, name: str, what: str, wait_seconds: float | None) -> None:
    """Enter a slot of `name` on `stack`, asking again while every slot is held, for at most
    `wait_seconds`."""
    log = get_logger()
    holder = _holder()
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    waited: float | None = None
    while True:
        try:
            stack.enter_context(_slot(name, holder, max_retries=0))
            break
        except ConcurrencySlotAcquisitionError as exc:
            if not _all_taken(exc):
                raise
        if waited is None:
            log.info(
                "%s: waiting for a slot of the global concurrency limit %r (%s), for at most %s",
                what,
                name,
                _occupancy(name),
                "ever" if wait_seconds is None else f"{wait_seconds:g} s",
            )
            waited = time.monotonic()
        if deadline is not None and time.monotonic() >= deadline:
            raise SlotWaitTimedOut(
                f"{what}: no slot of the global concurrency limit {name!r} came within "
                f"{wait_seconds:g} s (ELT_LIMIT_WAIT_SECONDS): every slot is held; see who "
                "holds them with `elt limits show`"
            )
        interrupts.wait(SLOT_POLL_SECONDS * (0.5 + random.random()))
    if waited is not None:
        log.info("%s: got a slot of %r after %.0fs", what, name, time.monotonic() - waited)


def _occupancy(name: str) -> str:
    """ "all 2 slots held by other runs", as the server says now (one request)."""
    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
    except (httpx.HTTPError, PrefectHTTPStatusError, ObjectNotFound):
        return "all slots held by other runs"
    return f"{limit.active_slots} of its {limit.limit} slots held by other runs"


def _slot(
    name: str, holder: ConcurrencyLeaseHolder | None, max_retries: int | None = None
) -> AbstractContextManager[None]:
    return concurrency(
        name,
        occupy=1,
        max_retries=max_retries,
        lease_duration=LEASE_SECONDS,
        holder=holder,
        raise_on_lease_renewal_failure=False,
    )


def _all_taken(exc: ConcurrencySlotAcquisitionError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == 423


def _holder() -> ConcurrencyLeaseHolder | None:
    """Who holds the slot, shown on the limit in the UI: the task run, else the flow run."""
    if (task_run := TaskRunContext.get()) is not None:
        return ConcurrencyLeaseHolder(type="task_run", id=task_run.task_run.id)
    if (flow_run := FlowRunContext.get()) is not None and flow_run.flow_run is not None:
        return ConcurrencyLeaseHolder(type="flow_run", id=flow_run.flow_run.id)
    return None


def warehouse_slot(config: Config, target: DbtTarget, what: str) -> AbstractContextManager[None]:
    """A slot of the target's Snowflake warehouse limit; nothing to hold on other targets."""
    if not config.needs_snowflake(target) or config.snowflake is None:
        return nullcontext()
    warehouse = config.snowflake.warehouse
    if not warehouse:
        return nullcontext()
    wait = config.limits.slot_wait(DBT_SLOT_WAIT_SECONDS)
    return fleet_slot(warehouse_limit(warehouse), what, wait_seconds=wait)


DBT_SLOT_WAIT_SECONDS = 3600.0  # a dbt command has no timeout of its own


@dataclass(frozen=True)
class WantedLimit:
    name: str
    size: int
    bounds: str  # what it bounds, for the output
    setting: str  # the variable its size comes from


def wanted_limits(config: Config) -> list[WantedLimit]:
    """The limits this configuration's runs take slots of, sized from ELT_LIMIT_*."""
    env = config.limits.env
    wanted = [
        WantedLimit(
            AIRBYTE_LIMIT,
            config.limits.airbyte_syncs,
            "Airbyte sync jobs at once, across all workers",
            env.variable("airbyte_syncs"),
        )
    ]
    if config.snowflake is not None and config.snowflake.warehouse:
        warehouse = config.snowflake.warehouse
        wanted.append(
            WantedLimit(
                warehouse_limit(warehouse),
                config.limits.warehouse_builds,
                f"dbt commands at once on the Snowflake warehouse {warehouse}",
                env.variable("warehouse_builds"),
            )
        )
    return wanted


@dataclass(frozen=True)
class Applied:
    limit: WantedLimit
    status: str  # created | updated | unchanged (with --dry-run: would be ...)
    change: str = ""  # e.g. "limit 2 -> 4"


def apply(wanted: list[WantedLimit], *, dry_run: bool = False) -> list[Applied]:
    """Create each limit, or bring its size (and active flag) to what is wanted; applying
    twice changes nothing. Slots in use are kept: resizing never frees a running job's slot."""
    results = []
    with get_client(sync_client=True) as client:
        for limit in wanted:
            try:
                current = client.read_global_concurrency_limit_by_name(limit.name)
            except ObjectNotFound:
                if not dry_run:
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=limit.name, limit=limit.size)
                    )
                results.append(Applied(limit, _status("created", dry_run)))
                continue
            changes = []
            if current.limit != limit.size:
                changes.append(f"limit {current.limit} -> {limit.size}")
            if not current.active:
                changes.append("inactive -> active")
            if not changes:
                results.append(Applied(limit, "unchanged"))
                continue
            if not dry_run:
                client.update_global_concurrency_limit(
                    limit.name, GlobalConcurrencyLimitUpdate(limit=limit.size, active=True)
                )
            results.append(Applied(limit, _status("updated", dry_run), ", ".join(changes)))
    return results


def show() -> list[dict[str, object]]:
    """Every global concurrency limit on the server (deployments' own limits included)."""
    with get_client(sync_client=True) as client:
        limits = client.read_global_concurrency_limits(limit=200)
    return [
        {
            "name": limit.name,
            "limit": limit.limit,
            "in use": limit.active_slots,
            "active": limit.active,
        }
        for limit in sorted(limits, key=lambda limit: limit.name)
    ]


def _status(status: str, dry_run: bool) -> str:
    return f"would be {status}" if dry_run else status
