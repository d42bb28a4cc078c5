"""Servers on loopback for tests and benchmarks: a real `prefect server start` (what a
deployment's commands talk to, never a temporary server started per command), and a webhook
endpoint that records what an automation posts.

Every Prefect server started here writes its log to `server.log` in its home, and
`log_problems` reads what it wrote since it was last read: the tests fail on a traceback or an
ERROR line from any server they started (a failing server service is otherwise silent: the
scheduler failed every loop for weeks while every test passed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import httpx

from tests.fakes.s3 import free_port

PREFECT = str(Path(sys.executable).with_name("prefect"))

# A record at ERROR or above in Prefect's console format (`12:00:00.000 | ERROR   | logger -`),
# uvicorn's (`ERROR:    ...`), or the start of a traceback.
PROBLEM = re.compile(r"^\S+ \| (ERROR|CRITICAL) +\||^(ERROR|CRITICAL):|^Traceback \(most recent")
RECORD_START = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \|")
# SQLite's answer when two of the server's own transactions want to write at once (Prefect 3.8
# on SQLite under concurrent runs): the request fails with a 503 that Prefect's clients retry,
# and nothing is lost. Counted apart, never a test failure (Postgres has no such contention).
SQLITE_CONTENTION = "database is locked"


@dataclass
class ServerLog:
    """The log of one server a test started, read incrementally."""

    path: Path
    offset: int = 0
    ignored: list[re.Pattern[str]] = field(default_factory=list)

    def problems(self) -> list[str]:
        """The ERROR lines and tracebacks (each with its last line, the exception) written
        since the last call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode("utf-8", "replace")
        complete = text[: text.rfind("\n") + 1]  # a line still being written waits
        self.offset += len(complete.encode())
        return problem_lines(complete, self.ignored)


def problem_lines(text: str, ignored: list[re.Pattern[str]] | None = None) -> list[str]:
    """One line per ERROR record or bare traceback: its first line, and for a traceback its
    exception (the record's last unindented line)."""
    records: list[list[str]] = []
    for line in text.splitlines():
        if RECORD_START.match(line) or line.startswith(("ERROR:", "CRITICAL:")) or not records:
            records.append([line])
        elif line.startswith("Traceback") and not PROBLEM.search(records[-1][0]):
            records.append([line])  # a bare traceback (uvicorn's, a thread's)
        else:
            records[-1].append(line)
    found = []
    for lines in records:
        if not PROBLEM.search(lines[0]):
            continue
        text = "\n".join(lines)
        if SQLITE_CONTENTION in text:
            continue
        tail = [x for x in lines[1:] if x and not x.startswith(" ") and "Traceback" not in x]
        line = lines[0] + (f" ... {tail[-1]}" if tail else "")
        if not any(pattern.search(line) for pattern in ignored or []):
            found.append(line)
    return found


# Every server log of this test process, checked after each test (tests/conftest.py).
SERVER_LOGS: list[ServerLog] = []


def watch_log(path: Path) -> ServerLog:
    log = ServerLog(path, path.stat().st_size if path.exists() else 0)
    SERVER_LOGS.append(log)
    return log


@contextmanager
def prefect_server(
    home: Path, env: Mapping[str, str], settings: Mapping[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """Start one with its own PREFECT_HOME (and any server `settings`), wait until it answers,
    yield `env` plus its PREFECT_API_URL, stop it. Its log is watched (`SERVER_LOGS`)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **env,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    path = home / "server.log"
    watched = watch_log(path)
    log = path.open("ab")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, **(settings or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prefect server start did not answer within 180 s: {home}/server.log"
                )
            time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        SERVER_LOGS.remove(watched)


def create_flow_run(api: str, deployment_id: str, parameters: dict[str, object]) -> str:
    """Create a run of a deployment as `prefect deployment run` does, through Prefect's client:
    it retries the 503 a busy SQLite server answers under load (a raw POST would not); returns
    the flow run's id."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api) as client:
        run = client.create_flow_run_from_deployment(UUID(deployment_id), parameters=parameters)
    return str(run.id)


class WebhookReceiver:
    """A webhook endpoint on loopback that records every JSON body it is sent."""

    def __init__(self) -> None:
        calls = self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                calls.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return list(self.calls)
