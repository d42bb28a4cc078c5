"""Benchmark: 50 Airbyte connections synced concurrently against the fake Airbyte server, by
the `airbyte_sync` flow as users run it (one task run per connection, on a Prefect server).

Each job takes 2 s on the server; the poll interval is 0.5 s. Reports the wall time against the
longest job (target: at most 1.5x) and API requests per job (target: at most
duration/interval + 3 = 7).

    .venv/bin/python bench/airbyte_concurrency.py [--connections 50] [--job-seconds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.errors import AirbyteSyncFailed
from orchestration.flows.airbyte_sync import airbyte_sync
from tests.fakes.airbyte_server import FakeAirbyte, Script
from tests.servers import bench_api_for_this_process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--job-seconds", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    args = parser.parse_args()

    with FakeAirbyte(auth="client_credentials") as fake:
        ids = [
            fake.add_connection(f"conn-{i:03d}", Script(duration=args.job_seconds))
            for i in range(args.connections)
        ]
        os.environ.update(
            AIRBYTE_SERVER_URL=fake.url,
            AIRBYTE_CLIENT_ID=fake.client_id,
            AIRBYTE_CLIENT_SECRET=fake.client_secret,
            AIRBYTE_POLL_INTERVAL_SECONDS=str(args.poll_interval),
            AIRBYTE_TIMEOUT_SECONDS="600",
        )
        with (
            tempfile.TemporaryDirectory() as home,
            bench_api_for_this_process(Path(home), os.environ),
        ):
            started = time.monotonic()
            try:
                results = airbyte_sync(connection_ids=ids, max_concurrent=args.connections)
            except AirbyteSyncFailed as failure:
                results = failure.results
            wall = time.monotonic() - started

    failed = [r for r in results if not r.succeeded]
    longest = max(r.duration_seconds or 0.0 for r in results)
    job_requests = [m for m, p in fake.requests if p.startswith("/jobs")]
    per_job = len(job_requests) / len(results)
    budget = args.job_seconds / args.poll_interval + 3
    print(f"connections: {len(results)}, failed: {len(failed)}")
    print(f"wall time: {wall:.2f}s, longest job: {longest:.2f}s")
    print(
        f"API requests: {len(fake.requests)} ({len(job_requests)} on /jobs), token requests: "
        f"{len(fake.calls('POST', '/applications/token'))}"
    )
    print(f"requests per job: {per_job:.2f} (target <= {budget:g})")
    print(f"wall/configured-job ratio: {wall / args.job_seconds:.2f}")
    # Airbyte reports whole seconds: a sub-second job's duration is 0 (no ratio to take)
    ratio = wall / longest if longest else float("inf")
    print(f"wall/longest-job ratio: {ratio:.2f} (target <= 1.5)")
    ok = not failed and ratio <= 1.5 and per_job <= budget
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
