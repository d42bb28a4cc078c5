"""One sensor per cursor: a lease kept as a Prefect Variable beside the cursor.

Owning the lease means having created its Variable: Prefect refuses a second Variable of the
same name (409), which makes creation the compare-and-swap the cursor itself lacks. The holder
renews it (a write that moves the Variable's server-side `updated` time) every third of its
time-to-live. A lease not renewed for its TTL has expired: a newcomer deletes it *by id* and
creates its own; if two newcomers race, the second delete finds no such id (or the second
create finds the name taken) and that one waits. Expiry is judged on the server's clock (the
Variable's `updated` against the `Date` of the server's reply), so clock skew between hosts
does not matter. A holder that finds its Variable gone or replaced has lost the lease and
stops before it hands over another batch.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import VariableCreate
from prefect.exceptions import ObjectAlreadyExists

from orchestration.errors import LeaseLost, UserError
from orchestration.runtime import interrupts
from orchestration.runtime.logs import get_logger


def describe_holder() -> str:
    """Who holds the lease, as another sensor's error message will show it."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    flow_run = context.flow_run if context else None
    run = f", flow run {flow_run.name} ({flow_run.id})" if flow_run else ""
    return f"pid {os.getpid()} on {socket.gethostname()}{run}"


class SensorLease:
    def __init__(self, name: str, ttl_seconds: float, holder: str | None = None) -> None:
        self.name = name
        self.ttl = ttl_seconds
        self.holder = holder or describe_holder()
        self.variable_id: str | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._renewed_at = 0.0
        self._thread: threading.Thread | None = None

    # --- acquire / release ----------------------------------------------------------------
    def acquire(self, wait_seconds: float, what: str) -> None:
        """Take the lease, waiting up to `wait_seconds` for a holder's lease to be released
        or to expire; then refuse with one line naming the holder."""
        deadline = time.monotonic() + wait_seconds
        announced = False
        while True:
            if self._try_create():
                self._start_renewing()
                return
            current = self._read()
            if current is None:
                continue  # released between our create and read: try again at once
            record, age = current
            if age >= self.ttl and self._delete(record["id"]):
                get_logger().warning(
                    "Took over %s from %s, whose lease expired %.0fs ago",
                    what,
                    _holder(record),
                    age - self.ttl,
                )
                continue
            if time.monotonic() >= deadline:
                raise UserError(
                    f"another S3 sensor is watching {what}: {_holder(record)} (lease renewed "
                    f"{age:.0f}s ago): stop it first; a sensor that died releases its lease "
                    f"{self.ttl:.0f}s after its last renewal (S3_SENSOR_LEASE_SECONDS)"
                )
            if not announced:
                get_logger().info(
                    "Waiting for %s, held by %s (renewed %.0fs ago)", what, _holder(record), age
                )
                announced = True
            left = max(deadline - time.monotonic(), 0.05)
            interrupts.wait(min(max(self.ttl - age, 0.2), 1.0, left))  # a signal ends it at once

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.variable_id is not None and not self._lost.is_set():
            self._delete(self.variable_id)
        self.variable_id = None

    def __enter__(self) -> SensorLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- while held -----------------------------------------------------------------------
    def check(self) -> None:
        """Raise LeaseLost unless the lease is surely still ours (called before each trigger)."""
        if self._lost.is_set():
            raise LeaseLost(f"lost the lease {self.name}: another sensor took over; stopping")
        if time.monotonic() - self._renewed_at >= self.ttl * 0.9:
            self._renew()  # renewals have been failing: confirm before handing anything over
            if self._lost.is_set() or time.monotonic() - self._renewed_at >= self.ttl * 0.9:
                raise LeaseLost(
                    f"could not renew the lease {self.name} within "
                    f"{self.ttl:.0f}s (Prefect API unreachable?): stopping so that another "
                    "sensor can take over safely"
                )

    def _start_renewing(self) -> None:
        self._renewed_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._renew_loop, name="s3-sensor-lease", daemon=True
        )
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            self._renew()
            if self._lost.is_set():
                return

    def _renew(self) -> None:
        try:
            if _call("PATCH", f"/variables/{self.variable_id}", json={"value": self._value()}):
                self._renewed_at = time.monotonic()
            else:
                self._lost.set()
        except (httpx.HTTPError, OSError) as exc:
            get_logger().warning("Renewing the sensor lease failed (%s); retrying", exc)

    # --- Prefect Variables ----------------------------------------------------------------
    def _value(self) -> str:
        return json.dumps({"holder": self.holder, "renewed_at": datetime.now(UTC).isoformat()})

    def _try_create(self) -> bool:
        with get_client(sync_client=True) as client:
            try:
                created = client.create_variable(
                    VariableCreate(name=self.name, value=self._value(), tags=["s3-sensor-lease"])
                )
            except ObjectAlreadyExists:
                return False
        self.variable_id = str(created.id)
        return True

    def _read(self) -> tuple[dict[str, Any], float] | None:
        """The holder's record and its age in seconds on the server's clock."""
        response = _call("GET", f"/variables/name/{self.name}")
        if response is None:
            return None
        record = response.json()
        updated = datetime.fromisoformat(record["updated"].replace("Z", "+00:00"))
        date_header = response.headers.get("date")
        server_now = parsedate_to_datetime(date_header) if date_header else datetime.now(UTC)
        # `Date` has one-second resolution: round the age down so a lease never expires early
        age = max(0.0, (server_now - updated).total_seconds() - 1.0)
        return record, age

    def _delete(self, variable_id: str) -> bool:
        return _call("DELETE", f"/variables/{variable_id}") is not None


def _call(method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    """One Prefect API request; None when the variable does not exist (404)."""
    with get_client(sync_client=True) as client:
        try:
            return client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return None
            raise


def _holder(record: dict[str, Any]) -> str:
    try:
        return str(json.loads(record["value"])["holder"])
    except (ValueError, KeyError, TypeError):
        return "an unknown holder"
