"""Event mode: S3 event notifications (`s3:ObjectCreated:*`) delivered to an SQS queue.

A poll is one long-poll `ReceiveMessage`; no listing is needed to find new objects. Messages
are deleted only after their objects were handed downstream, so a crash makes SQS redeliver
them, and redeliveries are recognised by the cursor. Each object is read back with
`HeadObject`, which gives the same (key, LastModified, ETag) a listing gives (so the periodic
reconciliation listing recognises what events delivered) and skips objects already deleted.

Message shapes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html):
`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ...},
"object": {"key": <URL-encoded, spaces as +>, ...}}}]}`; the `s3:TestEvent` S3 sends when a
notification is configured; the same body wrapped in an SNS envelope (`"Type": "Notification"`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import unquote_plus

import botocore.exceptions

from orchestration.errors import UserError
from orchestration.runtime.logs import get_logger
from orchestration.sensors.cursor import S3Object

MAX_MESSAGES_PER_RECEIVE = 10  # SQS ReceiveMessage limit
MAX_WAIT_SECONDS = 20  # SQS long-poll limit


@dataclass
class Received:
    """One ReceiveMessage: the objects its messages name, and the handles to delete."""

    keys: list[str] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)


def parse_message(body: str, bucket: str, prefix: str) -> list[str] | None:
    """Keys of created objects under bucket/prefix named by one message; None if malformed."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification":  # SNS envelope
            data = json.loads(data["Message"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("Event") == "s3:TestEvent":
        return []
    records = data.get("Records")
    if not isinstance(records, list):
        return None
    keys = []
    for record in records:
        try:
            name = record["eventName"]
            record_bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError):
            return None
        created = name.startswith("ObjectCreated:") and record_bucket == bucket
        if created and key.startswith(prefix) and not key.endswith("/"):
            keys.append(key)
    return keys


class EventQueue:
    """Receives S3 notifications from an SQS queue and reads the objects they name."""

    def __init__(self, sqs: Any, s3: Any, queue_url: str, bucket: str, prefix: str) -> None:
        self.sqs, self.s3 = sqs, s3
        self.queue_url, self.bucket, self.prefix = queue_url, bucket, prefix
        self.receives = 0
        self._reported: set[str] = set()

    def receive(self, max_messages: int, wait_seconds: float) -> Received:
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(MAX_MESSAGES_PER_RECEIVE, max_messages)),
                # at least 1 s: an idle sensor long-polls instead of spinning
                WaitTimeSeconds=max(1, min(MAX_WAIT_SECONDS, round(wait_seconds))),
            )
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if "NonExistentQueue" in code or code == "QueueDoesNotExist":
                raise UserError(
                    f"SQS queue {self.queue_url} does not exist: check S3_EVENTS_QUEUE_URL "
                    "(or --events-queue), or create it and run `elt sensor setup-events`"
                ) from None
            raise
        self.receives += 1
        received = Received()
        for message in response.get("Messages", []):
            received.handles.append(message["ReceiptHandle"])
            keys = parse_message(message.get("Body", ""), self.bucket, self.prefix)
            if keys is None:
                self._report_malformed(message)
                continue
            received.keys.extend(keys)
        return received

    def read(self, keys: list[str]) -> list[S3Object]:
        """The current version of each key (one HeadObject each); deleted keys are left out."""
        objects = []
        for key in dict.fromkeys(keys):  # one message per key is common; several are possible
            try:
                head = self.s3.head_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    continue  # written, then deleted before we got to it: nothing to hand over
                raise
            objects.append(
                S3Object(
                    last_modified=head["LastModified"].astimezone(UTC),
                    key=key,
                    size=int(head.get("ContentLength", 0)),
                    etag=str(head.get("ETag", "")).strip('"'),
                )
            )
        return sorted(objects)

    def delete(self, handles: list[str]) -> None:
        for start in range(0, len(handles), MAX_MESSAGES_PER_RECEIVE):
            chunk = handles[start : start + MAX_MESSAGES_PER_RECEIVE]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
            )

    def _report_malformed(self, message: dict[str, Any]) -> None:
        """Logged once per message (a redelivered copy is not logged again), then deleted."""
        message_id = str(message.get("MessageId", ""))
        if message_id in self._reported:
            return
        self._reported.add(message_id)
        if len(self._reported) > 10_000:  # bounded memory over a long run
            self._reported.clear()
        body = str(message.get("Body", ""))
        get_logger().warning(
            "Ignoring SQS message %s: not an S3 event notification (%d bytes: %r)",
            message_id,
            len(body),
            body[:120],
        )


def notification_id(prefix: str) -> str:
    """The Id of the bucket notification this project manages for one prefix."""
    return f"elt-s3-sensor-{hashlib.sha256(prefix.encode()).hexdigest()[:12]}"


def setup_events(s3: Any, sqs: Any, bucket: str, prefix: str, queue: str) -> list[str]:
    """Make the bucket send `s3:ObjectCreated:*` under `prefix` to the queue; idempotent.

    Adds a queue policy statement that lets this bucket send to the queue (S3 needs it), and
    keeps every other notification of the bucket as it is. Returns what it did, one line each.
    """
    queue_url = queue if queue.startswith(("http://", "https://")) else _queue_url(sqs, queue)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    done = [_ensure_queue_policy(sqs, queue_url, queue_arn, bucket, attributes.get("Policy"))]

    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    ours = {
        "Id": notification_id(prefix),
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }
    queues = current.get("QueueConfigurations", [])
    existing = next((q for q in queues if q.get("Id") == ours["Id"]), None)
    if existing is not None and _same_notification(existing, ours):
        done.append(f"unchanged bucket notification {ours['Id']} -> {queue_arn}")
        return done
    current["QueueConfigurations"] = [q for q in queues if q.get("Id") != ours["Id"]] + [ours]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)
    verb = "updated" if existing else "created"
    done.append(f"{verb} bucket notification {ours['Id']}: s3://{bucket}/{prefix} -> {queue_arn}")
    return done


def _queue_url(sqs: Any, name: str) -> str:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except botocore.exceptions.ClientError:
        raise UserError(f"SQS queue {name!r} does not exist: create it first") from None


def _same_notification(existing: dict[str, Any], ours: dict[str, Any]) -> bool:
    rules = existing.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    prefix = next((r["Value"] for r in rules if r.get("Name", "").lower() == "prefix"), None)
    ours_prefix = ours["Filter"]["Key"]["FilterRules"][0]["Value"]
    return (
        existing.get("QueueArn") == ours["QueueArn"]
        and sorted(existing.get("Events", [])) == ours["Events"]
        and prefix == ours_prefix
    )


def _ensure_queue_policy(
    sqs: Any, queue_url: str, queue_arn: str, bucket: str, policy_text: str | None
) -> str:
    sid = f"elt-s3-sensor-{bucket}"[:100]
    policy = json.loads(policy_text) if policy_text else {"Version": "2012-10-17", "Statement": []}
    statements = policy.setdefault("Statement", [])
    if any(s.get("Sid") == sid for s in statements):
        return f"unchanged queue policy {sid}"
    statements.append(
        {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
        }
    )
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return f"created queue policy {sid}: s3 may send to {queue_arn}"
