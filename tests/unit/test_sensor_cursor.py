"""The sensor cursor's rules: what counts as new, what it forgets, and its stored form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from orchestration.sensors.cursor import Cursor, S3Object
from orchestration.sensors.notifications import parse_message

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def obj(key: str, seconds: float = 0, etag: str = "e1") -> S3Object:
    return S3Object(last_modified=T0 + timedelta(seconds=seconds), key=key, size=1, etag=etag)


def test_a_same_second_overwrite_with_other_content_is_new():
    cursor = Cursor()
    cursor.commit([obj("inbound/a.csv", etag="v1")])
    assert not cursor.is_new(obj("inbound/a.csv", etag="v1"))
    assert cursor.is_new(obj("inbound/a.csv", etag="v2"))  # same LastModified second


def test_an_old_object_never_delivered_is_new_while_inside_the_window():
    cursor = Cursor(lookback=timedelta(minutes=10))
    cursor.commit([obj("inbound/2026/11/25/new.csv", seconds=600)])
    late = obj("inbound/2026/11/21/late.csv", seconds=1)  # older partition, written recently
    assert cursor.is_new(late)
    assert cursor.horizon == T0
    assert not cursor.is_new(obj("inbound/ancient.csv", seconds=-1))


def test_the_horizon_never_moves_back_and_holding_it_keeps_versions():
    cursor = Cursor(lookback=timedelta(seconds=60))
    cursor.commit([obj("a", 0)], keep_since=T0)
    cursor.commit([obj("b", 3600)], keep_since=T0)  # a full scan last ran at T0
    assert cursor.horizon == T0 - timedelta(seconds=60)
    assert not cursor.is_new(obj("a", 0))  # still remembered for the next full scan
    cursor.commit([obj("c", 7200)])
    assert cursor.horizon == T0 + timedelta(seconds=7140)
    assert cursor.seen == {obj("c", 7200).version_id: T0 + timedelta(seconds=7200)}
    cursor.advance_horizon(keep_since=T0)  # asking for less never brings anything back
    assert cursor.horizon == T0 + timedelta(seconds=7140)


def test_an_event_for_an_object_older_than_the_horizon_is_still_new():
    cursor = Cursor(lookback=timedelta(seconds=60))
    cursor.commit([obj("new", 3600)])
    multipart = obj("big.parquet", 0)  # LastModified is when a multipart upload began
    assert not cursor.is_new(multipart)
    assert cursor.is_new(multipart, below_horizon_too=True)


def test_the_cursor_round_trips_through_json():
    cursor = Cursor(lookback=timedelta(seconds=90))
    cursor.commit([obj("a", 0), obj("b", 0), obj("c", 5, etag="x")])
    cursor.pending = [obj("d", 6)]
    cursor.last_full_scan = T0
    again = Cursor.from_json(cursor.to_json())
    assert again == cursor
    assert len(cursor.to_json()) < 400  # three versions: digests, not keys


def test_a_first_format_cursor_delivers_nothing_twice():
    v1 = json.dumps(
        {
            "watermark": (T0 + timedelta(seconds=30)).isoformat(),
            "lookback_s": 300,
            "seen": {"inbound/a.csv": (T0 + timedelta(seconds=30)).isoformat()},
            "pending": [],
            "objects_seen": 7,
        }
    )
    cursor = Cursor.from_json(v1)
    assert not cursor.is_new(obj("inbound/a.csv", 30))
    assert cursor.is_new(obj("inbound/b.csv", 31))
    assert cursor.objects_seen == 7


def record(key: str, bucket: str = "landing", name: str = "ObjectCreated:Put") -> dict:
    return {"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}


def test_event_messages_are_decoded_and_filtered():
    body = json.dumps(
        {
            "Records": [
                record("inbound/a+b%C3%A9.csv"),  # URL-encoded, spaces as '+'
                record("inbound/gone.csv", name="ObjectRemoved:Delete"),
                record("other/x.csv"),
                record("inbound/y.csv", bucket="elsewhere"),
                record("inbound/folder/"),
            ]
        }
    )
    assert parse_message(body, "landing", "inbound/") == ["inbound/a bé.csv"]
    sns = json.dumps(
        {"Type": "Notification", "Message": json.dumps({"Records": [record("inbound/z")]})}
    )
    assert parse_message(sns, "landing", "inbound/") == ["inbound/z"]
    test_event = json.dumps({"Event": "s3:TestEvent", "Bucket": "landing"})
    assert parse_message(test_event, "landing", "inbound/") == []
    for junk in ("<html>", "{}", "[1]", json.dumps({"Records": [{"eventName": "x"}]})):
        assert parse_message(junk, "landing", "inbound/") is None
