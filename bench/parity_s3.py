"""`make parity`, S3: this project's sensor and a Dagster sensor over dagster-aws `get_objects`
(LastModified cursor, and key cursor), on the same moto bucket, tick for tick.

Correctness scenarios, each on its own prefix: both sides first catch up on what is there,
then the scenario's write happens, then two more ticks; what the ticks after the write
requested is compared with what was written: delivered, missed, duplicated.
Scale: one tick on a prefix of N objects (100,000 by default): list requests and time."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3

from bench.s3_sensor_scale import MemoryStore, Requests, populate
from orchestration.sensors.cursor import S3Object
from orchestration.sensors.s3 import S3Sensor
from tests.fakes.s3 import moto_server

REPO = Path(__file__).resolve().parents[1]
PARITY_PYTHON = REPO / "parity" / ".venv" / "bin" / "python"
TICK = REPO / "parity" / "dagster_s3_tick.py"
BUCKET = "parity-landing"
KEYS = {
    "aws_access_key_id": "parity",
    "aws_secret_access_key": "parity",
    "region_name": "us-east-1",
}
SIDES = ("elt s3_sensor", "Dagster, LastModified cursor", "Dagster, key cursor")


@dataclass
class Outcome:
    delivered: int = 0
    missed: int = 0
    duplicated: int = 0
    errors: list[str] = field(default_factory=list)

    def cell(self) -> str:
        text = f"{self.delivered} delivered, {self.missed} missed, {self.duplicated} duplicated"
        return text + (f"; ticks fail: {self.errors[0]}" if self.errors else "")


class Ours:
    def __init__(self, s3, prefix: str) -> None:
        self.requested: list[str] = []
        self.sensor = S3Sensor(s3, BUCKET, prefix, MemoryStore(), self._trigger)

    def _trigger(self, batch: list[S3Object], key: str) -> str:
        self.requested += [o.key for o in batch]
        return "recorded"

    def tick(self) -> tuple[list[str], str | None]:
        before = len(self.requested)
        self.sensor.poll_once()
        return self.requested[before:], None


class DagsterHelper:
    """The Dagster side's process (parity/.venv): ticks on request, in milliseconds."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(PARITY_PYTHON), str(TICK)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tick(self, **request: object) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Dagster:
    def __init__(self, helper: DagsterHelper, request: dict[str, object]) -> None:
        self.helper, self.request = helper, request

    def tick(self) -> tuple[list[str], str | None]:
        reply = self.helper.tick(**self.request)
        return reply["requested"], reply["error"]


def put(s3, key: str, body: bytes = b"{}") -> datetime:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]


def next_second() -> None:
    """S3's LastModified has one-second resolution: the next write lands in a later second."""
    time.sleep(1.05 - (time.time() % 1.0))


@dataclass
class Bench:
    s3: object
    endpoint: str
    tmp: Path
    helper: DagsterHelper

    def sides(self, prefix: str) -> dict[str, Ours | Dagster]:
        def dagster(by_key: bool) -> Dagster:
            cursor = self.tmp / f"{prefix.strip('/')}-{'key' if by_key else 'lm'}"
            request = {"endpoint": self.endpoint, "bucket": BUCKET, "prefix": prefix}
            return Dagster(self.helper, {**request, "cursor_file": str(cursor), "by_key": by_key})

        return {SIDES[0]: Ours(self.s3, prefix), SIDES[1]: dagster(False), SIDES[2]: dagster(True)}


def scenario(
    bench: Bench, prefix: str, before: list[str], write: Callable[[], list[str] | None]
) -> dict[str, Outcome] | None:
    """None when `write` says the scenario's timing did not hold (then it is tried again)."""
    s3 = bench.s3
    for key in before:
        put(s3, prefix + key)
    sides = bench.sides(prefix)
    for side in sides.values():
        side.tick()  # catch up on what is there
    written = write()
    if written is None:
        return None
    expected = Counter(prefix + key for key in written)
    outcomes = {}
    for name, side in sides.items():
        requested: Counter[str] = Counter()
        errors = []
        for _ in range(2):
            keys, error = side.tick()
            requested.update(keys)
            errors += [error] if error else []
        delivered = sum(min(requested[k], n) for k, n in expected.items())
        extra = sum(requested.values()) - delivered
        outcomes[name] = Outcome(delivered, sum(expected.values()) - delivered, extra, errors)
    return outcomes


def correctness(bench: Bench) -> dict[str, dict[str, Outcome]]:
    s3, results = bench.s3, {}

    def late_file() -> list[str]:
        next_second()
        put(s3, "late/2024/02/01/late.json")
        return ["2024/02/01/late.json"]

    def overwrite() -> list[str]:
        next_second()
        put(s3, "overwrite/a.json", b'{"v": 2}')
        return ["a.json"]

    def delete_newest() -> list[str]:
        s3.delete_object(Bucket=BUCKET, Key="deleted/b.json")
        next_second()
        put(s3, "deleted/c.json")
        return ["c.json"]

    cases = [
        ("late file in an old partition", "late/", ["2024/03/01/a.json", "2024/03/02/b.json"],
         late_file),
        ("object overwritten a second later", "overwrite/", ["a.json"], overwrite),
        ("cursor's object deleted, then a new one", "deleted/", ["a.json", "b.json"],
         delete_newest),
    ]  # fmt: skip
    for name, prefix, before, write in cases:
        outcome = scenario(bench, prefix, before, write)
        assert outcome is not None
        results[name] = outcome
    for attempt in range(10):  # until a tick and the second write fit in the first's second
        prefix = f"same-second-{attempt}/"
        next_second()
        first = put(s3, prefix + "a.json")

        def second_write(prefix: str = prefix, first: datetime = first) -> list[str] | None:
            return ["b.json"] if put(s3, prefix + "b.json") == first else None

        outcome = scenario(bench, prefix, [], second_write)
        if outcome is not None:
            results["two objects in one second, a tick between them"] = outcome
            break
    else:  # never silently a row short
        raise RuntimeError("10 attempts could not fit a tick between two writes of one second")
    return results


def scale(endpoint: str, s3, objects: int, tmp: Path) -> dict[str, tuple[int, float, int]]:
    """One tick on a prefix of `objects` objects plus 10 new: list requests, seconds, found."""
    populate(objects, days=100, bucket=BUCKET, prefix="scale/")
    today = datetime.now(UTC).date()
    next_second()
    ours = Ours(s3, "scale/")
    ours.sensor.cursor.start_now(datetime.now(UTC))
    (tmp / "scale-lm").write_text(datetime.now(UTC).replace(microsecond=0).isoformat())
    next_second()
    for i in range(10):
        put(s3, f"scale/{today:%Y/%m/%d}/new-{i}.json")
    lists = Requests(s3, "ListObjectsV2")
    started = time.perf_counter()
    found, _ = ours.tick()
    ours_result = (lists.count, time.perf_counter() - started, len(found))
    helper = DagsterHelper()
    try:
        request = {"endpoint": endpoint, "bucket": BUCKET, "prefix": "scale/"}
        reply = helper.tick(**request, cursor_file=str(tmp / "scale-lm"), by_key=False)
    finally:
        helper.close()
    return {
        SIDES[0]: ours_result,
        SIDES[1]: (reply["lists"], reply["seconds"], len(reply["requested"])),
    }


def run(objects: int) -> tuple[dict[str, dict[str, Outcome]], dict[str, tuple[int, float, int]]]:
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="parity-s3-") as tmp:
        s3 = boto3.client("s3", endpoint_url=endpoint, **KEYS)
        s3.create_bucket(Bucket=BUCKET)
        helper = DagsterHelper()
        try:
            results = correctness(Bench(s3, endpoint, Path(tmp), helper))
        finally:
            helper.close()
        sizes = scale(endpoint, s3, objects, Path(tmp)) if objects else {}
    return results, sizes
