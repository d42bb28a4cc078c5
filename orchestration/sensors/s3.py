"""The S3 landing-zone sensor loop: poll, hand batches downstream, persist the cursor.

At-least-once with exactly-once runs: a batch is written to the cursor as `pending` before
its trigger, and committed only after the trigger succeeded; the trigger carries an
idempotency key derived from the batch, so re-sending a pending batch after a crash or a
failed trigger never starts a second run.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import botocore.exceptions

from orchestration.errors import UserError
from orchestration.logs import get_logger
from orchestration.sensors.cursor import Cursor, S3Object, batch_key
from orchestration.sensors.listing import detect_layout, find_new
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


@dataclass
class PollStats:
    polls: int = 0
    batches: int = 0
    objects: int = 0
    list_requests: int = 0
    errors: int = 0
    triggered: list[str] = field(default_factory=list)


class S3Sensor:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        store: CursorStore,
        trigger: Trigger,
        *,
        batch_size: int = 100,
        start: str = "beginning",
        heartbeat_every: int = 10,
    ) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.store, self.trigger = store, trigger
        self.batch_size, self.heartbeat_every = batch_size, heartbeat_every
        self.stats = PollStats()
        self.log = get_logger()
        loaded = store.load()
        if loaded is None:
            loaded = Cursor()
            if start == "now":
                loaded.start_now()
        self.cursor = loaded
        self.layout: str | None = None

    # --- one poll -------------------------------------------------------------------------
    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Deliver every new object in batches; returns how many objects were delivered."""
        delivered = 0
        if self.cursor.pending:  # a batch handed over before a crash or a failed trigger
            delivered += self._deliver(self.cursor.pending)
        if self.layout is None:
            self.layout = self._s3(lambda: detect_layout(self.s3, self.bucket, self.prefix))
            self.log.info("s3://%s/%s key layout: %s", self.bucket, self.prefix, self.layout)
        while not (stop and stop.is_set()):
            listing = self._s3(
                lambda: find_new(
                    self.s3,
                    self.bucket,
                    self.prefix,
                    self.cursor,
                    layout=self.layout or "flat",
                    batch_size=self.batch_size,
                )
            )
            self.stats.list_requests += listing.list_requests
            if not listing.batch:
                break
            self.cursor.pending = listing.batch
            self.store.save(self.cursor)
            delivered += self._deliver(listing.batch)
            if listing.new_objects <= len(listing.batch):
                break
        self.stats.polls += 1
        return delivered

    def _deliver(self, batch: list[S3Object]) -> int:
        key = batch_key(self.bucket, self.prefix, batch)
        outcome = self.trigger(batch, key)  # raises: the batch stays pending, retried later
        self.cursor.commit(batch)
        self.store.save(self.cursor)
        self.stats.batches += 1
        self.stats.objects += len(batch)
        self.stats.triggered.append(key)
        self.log.info("Batch of %d new object(s) delivered: %s", len(batch), outcome)
        return len(batch)

    def _s3(self, call: Any) -> Any:
        """Run an S3 call; permanent errors become one clear UserError."""
        try:
            return call()
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
        """Poll until `max_polls`, `max_runtime`, or `stop`; transient faults never end it."""
        stop = stop or threading.Event()
        started = time.monotonic()
        backoff = poll_interval
        while not stop.is_set():
            try:
                self.poll_once(stop)
                backoff = poll_interval
            except UserError:
                raise
            except Exception as exc:  # S3 fault, or a failed trigger (its batch stays pending)
                self.stats.errors += 1
                self.stats.polls += 1
                backoff = min(max(backoff * 2, 1.0), 300.0)
                s3_fault = isinstance(
                    exc, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
                )
                what = "S3 poll" if s3_fault else "Triggering downstream work (batch kept)"
                self.log.warning("%s failed (%s); retrying in %.0fs", what, exc, backoff)
            if self.stats.polls % self.heartbeat_every == 0:
                self.heartbeat()
            if max_polls is not None and self.stats.polls >= max_polls:
                break
            if max_runtime is not None and time.monotonic() - started >= max_runtime:
                self.log.info("max runtime reached: ending this run (a new one continues)")
                break
            stop.wait(backoff)
        return self.stats

    def heartbeat(self) -> None:
        self.log.info(
            "heartbeat: %d polls, %d objects delivered (%d all time), %d errors, cursor at %s",
            self.stats.polls,
            self.stats.objects,
            self.cursor.objects_seen,
            self.stats.errors,
            self.cursor.watermark.isoformat() if self.cursor.watermark else "the beginning",
        )


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT end the loop after the current batch instead of in the middle of it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: object) -> None:
        get_logger().info("Signal %s received: stopping after the current batch", signum)
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
