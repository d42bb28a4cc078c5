"""Keeping a slot's lease alive while the work runs, and giving the slot back.

Handled here rather than by Prefect's `concurrency()`, whose renewal gives up after three
failed attempts (an outage of a minute lets the lease expire under work still running), which
never takes back a lease the server lost, and which asks for the release once (an outage as
the work ends fails finished work, or leaks the slot until its lease expires). Here:

- the lease is renewed every `RENEW_SECONDS` for as long as the work runs, and asked again
  every `RETRY_SECONDS` through an outage; the work never stops for it;
- a lease the server no longer knows is replaced. When it cannot have expired yet (renewed
  less than `LEASE_SECONDS` ago) the server lost it in a restart with in-memory leases and
  still counts the slot: the new lease takes that count over (one slot taken, one freed), so
  the count stays true and `elt limits repair` has nothing of a live run's to free;
- giving the slot back is retried for up to `RELEASE_SECONDS` (`RELEASE_STOPPING_SECONDS`
  once the process is told to stop) and never raises: past it, a warning, and the lease frees
  the slot when it expires.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import PrefectHTTPStatusError

from orchestration.errors import first_line
from orchestration.limits.holders import Holder, current_holder, forget, record, recorded
from orchestration.limits.names import LEASE_GONE, LEASE_SECONDS
from orchestration.runtime import interrupts
from orchestration.runtime.logs import get_logger

__all__ = ["API_ERRORS", "HeldSlot", "ask", "give_back_once"]

RENEW_SECONDS = 60.0  # a lease the server lost is noticed (and replaced) within this
RETRY_SECONDS = 5.0  # while the Prefect API is out: a renewal or a release is asked again
RELEASE_SECONDS = 60.0  # how long giving a slot back is retried through an outage
RELEASE_STOPPING_SECONDS = 5.0  # the same, once the process is told to stop
API_ERRORS = (httpx.HTTPError, PrefectHTTPStatusError)


def ask(client: SyncPrefectClient, name: str) -> ConcurrencyLimitWithLeaseResponse | None:
    """One slot of `name` under a new lease, or None when every slot is held."""
    try:
        response = client.increment_concurrency_slots_with_lease(
            names=[name],
            slots=1,
            mode="concurrency",
            lease_duration=LEASE_SECONDS,
            holder=_lease_holder(),
        )
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code == 423:
            return None
        raise
    return ConcurrencyLimitWithLeaseResponse.model_validate(response.json())


def give_back_once(client: SyncPrefectClient, lease_id: UUID) -> None:
    with contextlib.suppress(*API_ERRORS):  # else the lease expires on its own
        client.release_concurrency_slots_with_lease(lease_id)


def _lease_holder() -> ConcurrencyLeaseHolder | None:
    """The lease's holder as Prefect records it: the task run, else the flow run."""
    if (task_run := TaskRunContext.get()) is not None:
        return ConcurrencyLeaseHolder(type="task_run", id=task_run.task_run.id)
    if (flow_run := FlowRunContext.get()) is not None and flow_run.flow_run is not None:
        return ConcurrencyLeaseHolder(type="flow_run", id=flow_run.flow_run.id)
    return None


class HeldSlot:
    """A slot taken: its lease is kept by a thread until `give_back`."""

    def __init__(self, holder: Holder) -> None:
        self.holder: Holder | None = holder  # None: lost, and no slot was free to take again
        self._what, self._limit = holder.what, holder.limit
        self._renewed = time.monotonic()  # the lease cannot expire before this + LEASE_SECONDS
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._warned = False
        self._freed: set[UUID] = set()  # lost leases whose count was freed (at most once each)
        context = contextvars.copy_context()  # the run's logger, in the renewal thread too
        self._thread = threading.Thread(
            target=context.run, args=(self._keep,), name=f"lease of {self._limit}", daemon=True
        )
        self._thread.start()

    def _still_counted(self) -> bool:
        """Whether a lease the server does not know can only have been lost, not expired:
        then the server still counts its slot."""
        return time.monotonic() < self._renewed + LEASE_SECONDS - RETRY_SECONDS

    def _free_lost(self, client: SyncPrefectClient, lost: Holder) -> None:
        """Free the slot the server still counts for a lease it lost: once, even when the
        answer is lost (a repeat would free another run's slot; a leak is what
        `elt limits repair` is for)."""
        if lost.lease_id in self._freed or not recorded(client, lost.lease_id):
            return  # freed already, by this slot or by `elt limits repair`
        self._freed.add(lost.lease_id)
        client.request(
            "POST", "/v2/concurrency_limits/decrement", json={"names": [self._limit], "slots": 1}
        )

    def _keep(self) -> None:
        with get_client(sync_client=True) as client:
            pause = RENEW_SECONDS
            while not self._stop.wait(pause):
                pause = self._renew(client)

    def _renew(self, client: SyncPrefectClient) -> float:
        """Renew the lease (or take a slot again); how long until the next renewal."""
        holder = self.holder
        try:
            if holder is None:
                return self._replace(client, None)
            client.renew_concurrency_lease(holder.lease_id, LEASE_SECONDS)
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == LEASE_GONE and holder is not None:
                return self._replace(client, holder)
            return self._out(exc)
        except httpx.HTTPError as exc:
            return self._out(exc)
        self._renewed = time.monotonic()
        if self._warned:
            get_logger().info("%s: lease of its slot of %r renewed again", self._what, self._limit)
            self._warned = False
        return RENEW_SECONDS

    def _out(self, exc: Exception) -> float:
        if not self._warned:
            get_logger().warning(
                "%s: the lease of its slot of %r could not be renewed (%s): the work goes on, "
                "and the renewal is asked again every %.0f s",
                self._what,
                self._limit,
                first_line(exc),
                RETRY_SECONDS,
            )
            self._warned = True
        return RETRY_SECONDS

    def _replace(self, client: SyncPrefectClient, lost: Holder | None) -> float:
        """Hold the slot under a new lease, taking over the count of a lost one."""
        counted = lost is not None and self._still_counted()
        if lost is not None:
            get_logger().warning(
                "%s: the Prefect server no longer knows the lease of its slot of %r (%s): "
                "taking the slot again under a new lease",
                self._what,
                self._limit,
                "it restarted with in-memory leases" if counted else "it expired in an outage",
            )
        lease = ask(client, self._limit)
        if lease is None and counted and lost is not None:  # every slot held, its own among them
            self._free_lost(client, lost)
            counted = False
            lease = ask(client, self._limit)
        if lease is None:
            if lost is not None:
                forget(client, lost.lease_id)
                self.holder = None
            if not self._warned:
                get_logger().warning(
                    "%s: every slot of %r is held: the work goes on without one, asking again "
                    "every %.0f s",
                    self._what,
                    self._limit,
                    RETRY_SECONDS,
                )
                self._warned = True
            return RETRY_SECONDS
        holder = current_holder(self._limit, lease.lease_id, self._what, RENEW_SECONDS)
        record(client, holder)
        if counted and lost is not None:  # the lost lease's slot, now held under the new one
            self._free_lost(client, lost)
        if lost is not None:
            forget(client, lost.lease_id)
        with self._lock:
            if self._stop.is_set():  # given back meanwhile: this one is not wanted either
                give_back_once(client, lease.lease_id)
                forget(client, lease.lease_id)
                return RENEW_SECONDS
            self.holder = holder
            self._renewed = time.monotonic()
        get_logger().info("%s: holds a slot of %r again (new lease)", self._what, self._limit)
        self._warned = False
        return RENEW_SECONDS

    def give_back(self) -> None:
        """Release the slot, asking again through an outage for up to `RELEASE_SECONDS`; past
        that, a warning: the lease frees the slot when it expires."""
        with self._lock:
            self._stop.set()
            holder, self.holder = self.holder, None
        self._thread.join(timeout=RETRY_SECONDS)
        if holder is None:
            return
        started = time.monotonic()
        failure: Exception | None = None
        with get_client(sync_client=True) as client:
            while True:
                try:
                    self._release(client, holder, first=failure is None)
                    break
                except API_ERRORS as exc:
                    failure = failure or exc
                allowed = RELEASE_STOPPING_SECONDS if interrupts.STOP.is_set() else RELEASE_SECONDS
                left = started + allowed - time.monotonic()
                if left <= 0:
                    get_logger().warning(
                        "%s finished, but its slot of %r could not be given back within "
                        "%.0f s (%s): the slot frees itself when its lease expires, within "
                        "%.0f s, or with `elt limits repair` if the Prefect server restarts "
                        "meanwhile",
                        self._what,
                        self._limit,
                        allowed,
                        first_line(failure),
                        LEASE_SECONDS,
                    )
                    return
                time.sleep(min(RETRY_SECONDS, left))
            if failure is not None:
                get_logger().info(
                    "%s: its slot of %r given back after %.0f s of %s",
                    self._what,
                    self._limit,
                    time.monotonic() - started,
                    first_line(failure),
                )
            with contextlib.suppress(*API_ERRORS):  # else `elt limits repair` removes it
                forget(client, holder.lease_id)

    def _release(self, client: SyncPrefectClient, holder: Holder, *, first: bool) -> None:
        """Release the lease; one the server lost while still counting it (a restart with
        in-memory leases) is freed by count, since releasing it would do nothing. After a
        failed attempt, an unknown lease may be one that attempt released: left alone."""
        try:
            client.renew_concurrency_lease(holder.lease_id, LEASE_SECONDS)
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code != LEASE_GONE:
                raise
            if first and self._still_counted():
                self._free_lost(client, holder)
            return
        self._renewed = time.monotonic()
        client.release_concurrency_slots_with_lease(holder.lease_id)
