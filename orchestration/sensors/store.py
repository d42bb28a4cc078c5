"""Persist the sensor cursor in Prefect: a Variable, or a block once it outgrows one."""

from __future__ import annotations

import hashlib
import re

from prefect.blocks.core import Block
from prefect.types import check_variable_value
from prefect.variables import Variable

from orchestration.sensors.cursor import Cursor

BLOCK_POINTER = "block:"


class S3SensorCursor(Block):
    """Cursor of an S3 sensor too large for a Prefect Variable."""

    _block_type_name = "S3 Sensor Cursor"
    cursor: str


def cursor_name(bucket: str, prefix: str) -> str:
    """A Variable name derived from bucket and prefix (lowercase, digits, underscores)."""
    slug = re.sub(r"[^a-z0-9]+", "_", f"{bucket}_{prefix}".lower()).strip("_")[:180]
    digest = hashlib.sha256(f"{bucket}\0{prefix}".encode()).hexdigest()[:8]
    return f"s3_sensor_cursor_{slug}_{digest}"


class PrefectCursorStore:
    def __init__(self, bucket: str, prefix: str) -> None:
        self.name = cursor_name(bucket, prefix)
        self.block_name = self.name.replace("_", "-")
        self.lease_name = f"{self.name}_lease"

    def load(self) -> Cursor | None:
        value = Variable.get(self.name, default=None)
        if value is None:
            return None
        text = str(value)
        if text.startswith(BLOCK_POINTER):
            text = S3SensorCursor.load(text[len(BLOCK_POINTER) :]).cursor
        return Cursor.from_json(text)

    def save(self, cursor: Cursor) -> None:
        text = cursor.to_json()
        if fits_in_variable(text):
            Variable.set(self.name, text, overwrite=True)
            return
        S3SensorCursor(cursor=text).save(self.block_name, overwrite=True)
        Variable.set(self.name, BLOCK_POINTER + self.block_name, overwrite=True)


def fits_in_variable(text: str) -> bool:
    """Prefect's own rule: the value's JSON encoding (quotes and escapes included, in UTF-8
    bytes) must not exceed the Variable limit."""
    try:
        check_variable_value(text)
    except ValueError:
        return False
    return True
