"""Keeping the limits on the Prefect server: create and size them (`apply`), list them with
their holders (`show`), and free the slots no live run holds (`repair`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

from orchestration.config import Config
from orchestration.limits.holders import Holder, alive, forget, holders_of
from orchestration.limits.names import AIRBYTE_LIMIT, LEASE_GONE, LEASE_SECONDS, warehouse_limit
from orchestration.server.applying import Applied, apply_each

__all__ = [
    "Repaired",
    "WantedLimit",
    "apply",
    "limits_to_repair",
    "repair",
    "show",
    "wanted_limits",
]


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


def apply(wanted: list[WantedLimit], *, dry_run: bool = False) -> list[Applied[WantedLimit]]:
    """Create each limit, or bring its size (and active flag) to what is wanted; applying
    twice changes nothing. Slots in use are kept: resizing never frees a running job's slot."""
    with get_client(sync_client=True) as client:

        def read(limit: WantedLimit) -> GlobalConcurrencyLimitResponse | None:
            try:
                return client.read_global_concurrency_limit_by_name(limit.name)
            except ObjectNotFound:
                return None

        def change(current: GlobalConcurrencyLimitResponse, limit: WantedLimit) -> str:
            changes = []
            if current.limit != limit.size:
                changes.append(f"limit {current.limit} -> {limit.size}")
            if not current.active:
                changes.append("inactive -> active")
            return ", ".join(changes)

        def create(limit: WantedLimit) -> None:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=limit.name, limit=limit.size)
            )

        def update(limit: WantedLimit, current: GlobalConcurrencyLimitResponse) -> None:
            client.update_global_concurrency_limit(
                limit.name, GlobalConcurrencyLimitUpdate(limit=limit.size, active=True)
            )

        return apply_each(
            wanted, read=read, change=change, create=create, update=update, dry_run=dry_run
        )


def show() -> list[dict[str, object]]:
    """Every global concurrency limit on the server (deployments' own limits included), with
    the runs that recorded holding its slots."""
    with get_client(sync_client=True) as client:
        limits = client.read_global_concurrency_limits(limit=200)
        holders = holders_of(client)
    return [
        {
            "name": limit.name,
            "limit": limit.limit,
            "in use": limit.active_slots,
            "active": limit.active,
            "held by": "; ".join(h.describe() for h in holders if h.limit == limit.name),
        }
        for limit in sorted(limits, key=lambda limit: limit.name)
    ]


SETTLE_SECONDS = 3.0  # a slot just taken is recorded within this (one request after it)


@dataclass(frozen=True)
class Repaired:
    limit: str
    in_use: int  # slots the server counted before
    held: list[Holder] = field(default_factory=list)  # live runs holding slots
    gone: int = 0  # records of holders gone (run ended, or lease lost and never replaced)
    freed: int = 0  # slots counted with no live run holding them, freed
    dry_run: bool = False

    @property
    def status(self) -> str:
        if not (self.freed or self.gone):
            return "ok"
        return "would repair" if self.dry_run else "repaired"

    def summary(self) -> str:
        """`airbyte-api: freed 2 slots no live run held; 1 held by sync X (flow run 'fox')`."""
        parts = []
        if self.freed:
            verb = "would free" if self.dry_run else "freed"
            parts.append(f"{verb} {_slots(self.freed)} no live run holds")
        if self.gone:
            verb = "would give back" if self.dry_run else "gave back"
            parts.append(f"{verb} the leases of {self.gone} holder(s) gone")
        if self.held:
            held = ", ".join(h.describe() for h in self.held)
            parts.append(f"{_slots(len(self.held))} held by live runs: {held}")
        else:
            parts.append("no live run holds a slot")
        return f"{self.limit}: {'; '.join(parts)}"


def _slots(count: int) -> str:
    return f"{count} slot" if count == 1 else f"{count} slots"


def repair(
    names: list[str], *, dry_run: bool = False, say: Callable[[str], None] = lambda _: None
) -> list[Repaired]:
    """Bring each limit's slots in use down to the slots live runs hold.

    A slot leaks when the Prefect server forgets its lease (a restart with in-memory leases)
    while it still counts the slot, and its holder is gone. A recorded holder is gone when its
    run has ended, or when its lease stays unknown to the server for longer than the holder
    takes to replace a lost lease (`say` tells of that wait). Each gone holder's record is
    removed and its lease given back (the server frees the slot if it still knows the lease,
    exactly once); then what the server still counts beyond the live holders is freed. A live
    run's slot is never freed: holders are read again `SETTLE_SECONDS` later, so a slot taken
    as repair looks counts as held. Limits that do not exist are left alone."""
    results = []
    with get_client(sync_client=True) as client:
        for name in names:
            result = _repair_one(client, name, dry_run, say)
            if result is not None:
                results.append(result)
    return results


def limits_to_repair(wanted: list[WantedLimit]) -> list[str]:
    """The limits elt's runs take slots of: those of this configuration, and any other a
    recorded holder names (another configuration's warehouse, say). Only these are repaired:
    other limits' slots are held by runs that record nothing."""
    with get_client(sync_client=True) as client:
        recorded = sorted({h.limit for h in holders_of(client)})
    return list(dict.fromkeys([*(limit.name for limit in wanted), *recorded]))


def _repair_one(
    client: SyncPrefectClient, name: str, dry_run: bool, say: Callable[[str], None]
) -> Repaired | None:
    try:
        before = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        if not dry_run:
            for holder in holders_of(client, name):
                forget(client, holder.lease_id)
        return None
    if not before.active:
        return None
    holders = holders_of(client, name)
    running = alive(client, holders)
    gone = [h for h in holders if h.lease_id not in running]
    gone += _vanished(client, name, [h for h in holders if h.lease_id in running], say)
    if not dry_run:
        for holder in gone:
            forget(client, holder.lease_id)  # first: its holder, if alive, then frees nothing
            client.release_concurrency_slots_with_lease(holder.lease_id)
    held = [h for h in holders if h not in gone]
    in_use = _active(client, name) if gone and not dry_run else before.active_slots
    excess = in_use - len(held)
    if excess > 0 and not dry_run:
        time.sleep(SETTLE_SECONDS)
        again = holders_of(client, name)
        held_ids = {h.lease_id for h in held} | alive(client, again)
        excess = min(in_use, _active(client, name)) - len(held_ids)
        if excess > 0:
            client.request(
                "POST", "/v2/concurrency_limits/decrement", json={"names": [name], "slots": excess}
            )
    return Repaired(name, before.active_slots, held, len(gone), max(excess, 0), dry_run)


def _vanished(
    client: SyncPrefectClient, name: str, running: list[Holder], say: Callable[[str], None]
) -> list[Holder]:
    """The holders of running runs whose leases the server does not know, and which did not
    replace them within their renewal cadence: their processes are gone (killed while the
    server restarted, or on a machine lost). A live holder replaces a lost lease, and its
    record, at its next renewal."""
    unknown = [h for h in running if not _lease_known(client, h)]
    if not unknown:
        return []
    wait = max(h.renew_seconds for h in unknown) + SETTLE_SECONDS
    say(
        f"{name}: the Prefect server does not know the leases of {len(unknown)} running "
        f"holder(s) (did it restart?): giving them {wait:.0f} s to take them again"
    )
    time.sleep(wait)
    still = {h.lease_id for h in holders_of(client, name)}
    return [h for h in unknown if h.lease_id in still and not _lease_known(client, h)]


def _lease_known(client: SyncPrefectClient, holder: Holder) -> bool:
    """Whether the server knows the lease (asking renews it: a gone holder's lease then
    expires `LEASE_SECONDS` later, and the server frees its slot itself)."""
    try:
        client.renew_concurrency_lease(holder.lease_id, LEASE_SECONDS)
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code == LEASE_GONE:
            return False
        raise
    return True


def _active(client: SyncPrefectClient, name: str) -> int:
    return client.read_global_concurrency_limit_by_name(name).active_slots
