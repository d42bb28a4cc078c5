"""Taking one slot of a global concurrency limit: waiting, for a bounded time, with who
holds the slots said once; the slot taken is recorded (`holders`) and its lease kept
(`lease`)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.exceptions import ObjectNotFound

import orchestration.limits.renewal as renewal
from orchestration.config import Config, DbtTarget
from orchestration.errors import SlotWaitTimedOut
from orchestration.limits.holders import current_holder, holders_of, record
from orchestration.limits.names import warehouse_limit
from orchestration.limits.renewal import API_ERRORS, HeldSlot, ask, give_back_once
from orchestration.runtime import interrupts
from orchestration.runtime.logs import get_logger

__all__ = ["fleet_slot", "limit_exists", "warehouse_slot"]

SLOT_POLL_SECONDS = 2.0  # how often a run waiting for a slot asks again (with jitter)


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit `name` is on the server: a fan-out asks once, and
    without the limit its steps take no slot (two requests each saved; `elt limits apply`
    creates it)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return False
    return True


@contextmanager
def fleet_slot(name: str, what: str, *, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold one slot of the global concurrency limit `name` while `what` runs.

    When every slot is taken, the wait is logged once with who holds them, then the slot is
    asked for again every couple of seconds, for at most `wait_seconds` (None: no bound); past
    it the step fails naming the limit. Each ask is one request, so Ctrl-C or SIGTERM ends the
    wait at once. A limit that does not exist bounds nothing (`elt limits apply` creates it).

    Giving the slot back never fails the work: it is retried through an outage, then left to
    the lease's expiry with a warning."""
    slot = _take(name, what, wait_seconds)
    try:
        yield
    finally:
        if slot is not None:
            slot.give_back()


def _take(name: str, what: str, wait_seconds: float | None) -> HeldSlot | None:
    log = get_logger()
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    waited: float | None = None
    with get_client(sync_client=True) as client:
        while (lease := ask(client, name)) is None:
            if waited is None:
                log.info(
                    "%s: waiting for a slot of the global concurrency limit %r (%s), for at "
                    "most %s",
                    what,
                    name,
                    _occupancy(client, name),
                    "ever" if wait_seconds is None else f"{wait_seconds:g} s",
                )
                waited = time.monotonic()
            if deadline is not None and time.monotonic() >= deadline:
                raise SlotWaitTimedOut(
                    f"{what}: no slot of the global concurrency limit {name!r} came within "
                    f"{wait_seconds:g} s (ELT_LIMIT_WAIT_SECONDS): every slot is held; see who "
                    "holds them with `elt limits show`, free the ones of ended runs with "
                    "`elt limits repair`"
                )
            interrupts.wait(SLOT_POLL_SECONDS * (0.5 + random.random()))
        if not lease.limits:  # no such limit: nothing to hold
            give_back_once(client, lease.lease_id)
            log.debug("%s: no global concurrency limit %r: not bounded", what, name)
            return None
        # read at the call, as the renewal reads it: the cadence recorded is the one kept
        holder = current_holder(name, lease.lease_id, what, renewal.RENEW_SECONDS)
        try:
            record(client, holder)
        except API_ERRORS:
            give_back_once(client, lease.lease_id)  # an unrecorded slot could be taken as leaked
            raise
    if waited is not None:
        log.info("%s: got a slot of %r after %.0fs", what, name, time.monotonic() - waited)
    return HeldSlot(holder)


def _occupancy(client: SyncPrefectClient, name: str) -> str:
    """ "2 of its 2 slots held by other runs: sync X (flow run 'witty-fox'), ...", as the
    server says now."""
    try:
        limit = client.read_global_concurrency_limit_by_name(name)
        holders = holders_of(client, name)
    except (*API_ERRORS, ObjectNotFound):
        return "all slots held by other runs"
    held = f"{limit.active_slots} of its {limit.limit} slots held by other runs"
    return f"{held}: {', '.join(h.describe() for h in holders)}" if holders else held


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
