"""The S3 landing-zone sensor loop: find new objects, hand batches downstream, persist the cursor.

At-least-once with exactly-once runs: a batch is written to the cursor as `pending` before
its trigger, and committed only after the trigger succeeded; the trigger carries an
idempotency key derived from the batch, so re-sending a pending batch after a crash or a
failed trigger never starts a second run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import botocore.exceptions

from orchestration.errors import UserError, first_line
from orchestration.runtime import interrupts
from orchestration.runtime.logs import get_logger
from orchestration.sensors.cursor import DEFAULT_LOOKBACK, Cursor, S3Object, batch_key
from orchestration.sensors.listing import KeyLayout, Lister
from orchestration.sensors.notifications import EventQueue
from orchestration.sensors.triggers import Trigger

PERMANENT_S3_ERRORS = {
    "NoSuchBucket": "bucket {bucket} does not exist: check S3_BUCKET (or --bucket)",
    "AccessDenied": "access to s3://{bucket}/{prefix} is denied: check the AWS credentials "
    "and the bucket policy (s3:ListBucket is needed)",
    "AllAccessDisabled": "access to bucket {bucket} is disabled",
    "InvalidAccessKeyId": "the AWS access key is not valid: check AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the AWS secret key does not match: check AWS_SECRET_ACCESS_KEY",
    "InvalidBucketName": "{bucket} is not a valid bucket name: check S3_BUCKET",
}


class CursorStore(Protocol):
    def load(self) -> Cursor | None: ...
    def save(self, cursor: Cursor) -> None: ...


class Lease(Protocol):
    def acquire(self, wait_seconds: float, what: str) -> None: ...
    def check(self) -> None: ...
    def release(self) -> None: ...


@dataclass
class PollStats:
    polls: int = 0
    batches: int = 0
    objects: int = 0
    list_requests: int = 0
    receives: int = 0
    errors: int = 0
    last_error: str = ""


@dataclass
class SensorOptions:
    batch_size: int = 100
    start: str = "beginning"
    heartbeat_every: int = 10
    layout: KeyLayout = "any"
    lookback_partitions: int = 1
    full_scan_every: timedelta = timedelta(hours=1)
    lookback: timedelta = DEFAULT_LOOKBACK
    lease_wait_seconds: float = 0.0


class S3Sensor:
    """Polls one bucket/prefix, by listing or from an SQS queue of S3 events."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        store: CursorStore,
        trigger: Trigger,
        *,
        events: EventQueue | None = None,
        lease: Lease | None = None,
        options: SensorOptions | None = None,
        **overrides: Any,
    ) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.store, self.trigger = store, trigger
        self.events, self.lease = events, lease
        self.options = replace(options or SensorOptions(), **overrides)
        self.lister = Lister(
            s3,
            bucket,
            prefix,
            layout="any" if events else self.options.layout,
            lookback_partitions=self.options.lookback_partitions,
            full_scan_every=self.options.full_scan_every,
            periodic=events is not None or self.options.layout == "arrival-day",
        )
        self.event_wait = 20.0  # event mode: how long one receive waits for a message
        self.stats = PollStats()
        self.log = get_logger()
        self.cursor = self._load_cursor()

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _load_cursor(self) -> Cursor:
        loaded = self.store.load()
        if loaded is None:
            loaded = Cursor()
            if self.options.start == "now":
                loaded.start_now()
        loaded.lookback = self.options.lookback
        return loaded

    # --- one poll -------------------------------------------------------------------------
    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Deliver what is new; returns how many objects were delivered."""
        delivered = 0
        if self.cursor.pending:  # a batch handed over before a crash or a failed trigger
            delivered += self._deliver(self.cursor.pending)
        now = datetime.now(UTC)
        if self.events is None or self.lister.full_scan_due(self.cursor, now):
            delivered += self._deliver_listed(stop)
        if self.events is not None and not (stop and stop.is_set()):
            delivered += self._deliver_events()
        self.stats.polls += 1
        return delivered

    def _deliver_listed(self, stop: threading.Event | None) -> int:
        delivered = 0
        while not (stop and stop.is_set()):
            listing = self._s3(lambda: self.lister.list_new(self.cursor, self.options.batch_size))
            self.stats.list_requests += listing.list_requests
            if listing.batch:
                delivered += self._deliver(listing.batch)
            elif listing.full and self.lister.periodic:
                self.cursor.advance_horizon(self.lister.keep_since(self.cursor))
                self.store.save(self.cursor)  # records when the last full scan ran
            if listing.new_objects <= len(listing.batch):
                break
        return delivered

    def _deliver_events(self) -> int:
        events = self.events
        assert events is not None
        received = self._s3(lambda: events.receive(self.options.batch_size, self.event_wait))
        self.stats.receives += 1
        objects = self._s3(lambda: events.read(received.keys)) if received.keys else []
        new = [o for o in objects if self.cursor.is_new(o, below_horizon_too=True)]
        delivered = 0
        size = self.options.batch_size
        for start in range(0, len(new), size):
            delivered += self._deliver(new[start : start + size])
        if received.handles:  # only now: a crash before this makes SQS deliver them again
            self._s3(lambda: events.delete(received.handles))
        return delivered

    def _deliver(self, batch: list[S3Object]) -> int:
        if self.lease is not None:
            self.lease.check()  # never hand over a batch once another sensor may own the cursor
        if self.cursor.pending != batch:
            self.cursor.pending = batch
            self.store.save(self.cursor)
        key = batch_key(self.bucket, self.prefix, batch)
        outcome = self.trigger(batch, key)  # raises: the batch stays pending, retried later
        self.cursor.commit(batch, keep_since=self.lister.keep_since(self.cursor))
        self.store.save(self.cursor)
        self.stats.batches += 1
        self.stats.objects += len(batch)
        self.log.info("Batch of %d new object(s) delivered: %s", len(batch), outcome)
        return len(batch)

    def _s3(self, call: Any) -> Any:
        """Run an S3/SQS call; permanent errors become one clear UserError."""
        try:
            return call()
        except botocore.exceptions.ParamValidationError as exc:  # e.g. an invalid bucket name
            reason = str(exc).strip().splitlines()[-1]
            raise UserError(f"S3 sensor stopped: {reason}: check S3_BUCKET") from None
        except botocore.exceptions.NoCredentialsError:  # a setting missing, not an outage
            raise UserError(
                "S3 sensor stopped: no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a role) where the sensor runs"
            ) from None
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in PERMANENT_S3_ERRORS:
                message = PERMANENT_S3_ERRORS[code].format(bucket=self.bucket, prefix=self.prefix)
                raise UserError(f"S3 sensor stopped: {message}") from None
            raise

    # --- the loop -------------------------------------------------------------------------
    def run(
        self,
        *,
        poll_interval: float,
        max_polls: int | None = None,
        max_runtime: float | None = None,
        stop: threading.Event | None = None,
    ) -> PollStats:
        """Poll until `max_polls`, `max_runtime`, or `stop`; transient faults never end it.

        Listing mode waits `poll_interval` between polls; event mode long-polls the queue for
        up to `poll_interval` (at most 20 s) instead."""
        stop = stop or threading.Event()
        if max_polls is not None and max_polls <= 0:
            return self.stats
        if self.lease is not None:
            self.lease.acquire(self.options.lease_wait_seconds, self.where)
            self.cursor = self._load_cursor()  # what the previous holder left
        try:
            return self._loop(poll_interval, max_polls, max_runtime, stop)
        finally:
            if self.lease is not None:
                self.lease.release()

    def _loop(
        self,
        poll_interval: float,
        max_polls: int | None,
        max_runtime: float | None,
        stop: threading.Event,
    ) -> PollStats:
        started = time.monotonic()
        self.event_wait = min(poll_interval, 20.0)
        pause_after_success = 0.0 if self.events is not None else poll_interval
        backoff = pause_after_success
        while not stop.is_set():
            try:
                self.poll_once(stop)
                backoff = pause_after_success
            except UserError:
                raise
            except Exception as exc:  # S3 fault, or a failed trigger (its batch stays pending)
                self.stats.errors += 1
                self.stats.polls += 1
                self.stats.last_error = first_line(exc)
                backoff = min(max(backoff * 2, poll_interval, 1.0), 300.0)
                s3_fault = isinstance(
                    exc, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
                )
                what = "S3 poll" if s3_fault else "Triggering downstream work (batch kept)"
                self.log.warning("%s failed (%s); retrying in %.0fs", what, exc, backoff)
            if self.stats.polls % self.options.heartbeat_every == 0:
                self.heartbeat()
            if max_polls is not None and self.stats.polls >= max_polls:
                break
            if max_runtime is not None and time.monotonic() - started >= max_runtime:
                self.log.info("max runtime reached: ending this run (a new one continues)")
                break
            if backoff:
                stop.wait(backoff)
        return self.stats

    def heartbeat(self) -> None:
        self.log.info(
            "heartbeat: %d polls, %d objects delivered (%d all time), %d errors, %d list "
            "requests, %d queue receives, cursor at %s",
            self.stats.polls,
            self.stats.objects,
            self.cursor.objects_seen,
            self.stats.errors,
            self.stats.list_requests,
            self.stats.receives,
            self.cursor.watermark.isoformat() if self.cursor.watermark else "the beginning",
        )


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT end the loop after the current batch instead of in the middle of it."""

    def after_batch(signum: int) -> None:
        get_logger().info("Signal %s received: stopping after the current batch", signum)
        stop.set()

    with interrupts.calling_on_signals(after_batch):
        yield
