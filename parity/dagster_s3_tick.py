"""Ticks of a Dagster S3 sensor as dagster-aws documents it: `get_objects` with a LastModified
cursor (`since_last_modified`), a run request per object returned, the cursor moved to the
newest LastModified returned; or, with "by_key", the key cursor (`since_key`).

A helper process for `make parity` (bench/parity_s3.py), so that a tick takes milliseconds, as
in Dagster's daemon: one JSON request per line on stdin,
    {"endpoint": URL, "bucket": B, "prefix": P, "cursor_file": F, "by_key": false}
one JSON reply per line on stdout,
    {"requested": [keys], "error": message or null, "lists": list requests, "seconds": s}.
The cursor lives in the cursor file, as it would in Dagster's storage between ticks."""

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import boto3
from dagster_aws.s3.sensor import get_objects


def tick(request: dict, clients: dict) -> dict:
    endpoint = request["endpoint"]
    if endpoint not in clients:
        clients[endpoint] = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="parity",
            aws_secret_access_key="parity",
            region_name="us-east-1",
        )
    client = clients[endpoint]
    path = Path(request["cursor_file"])
    cursor = path.read_text() if path.exists() else ""
    lists = []

    def count(**_: object) -> None:
        lists.append(1)

    client.meta.events.register("before-send.s3.ListObjectsV2", count)
    started = time.perf_counter()
    try:
        if request["by_key"]:
            objects = get_objects(
                request["bucket"], request["prefix"], since_key=cursor or None, client=client
            )
        else:
            since = datetime.fromisoformat(cursor) if cursor else None
            objects = get_objects(
                request["bucket"], request["prefix"], since_last_modified=since, client=client
            )
    except Exception as exc:  # a failed tick: Dagster records it and tries again next tick
        objects, error = [], f"{type(exc).__name__}: {exc}"
    else:
        error = None
    finally:
        client.meta.events.unregister("before-send.s3.ListObjectsV2", count)
    seconds = time.perf_counter() - started
    if objects:
        newest = objects[-1]  # sorted by LastModified
        path.write_text(newest["Key"] if request["by_key"] else newest["LastModified"].isoformat())
    keys = [o["Key"] for o in objects]
    return {"requested": keys, "error": error, "lists": len(lists), "seconds": seconds}


def main() -> None:
    clients: dict = {}
    for line in sys.stdin:
        print(json.dumps(tick(json.loads(line), clients)), flush=True)


if __name__ == "__main__":
    main()
