"""Servers on loopback for tests and benchmarks: a real `prefect server start` (what a
deployment's commands talk to, never a temporary server started per command), and a webhook
endpoint that records what an automation posts."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import httpx

from tests.fakes.s3 import free_port

PREFECT = str(Path(sys.executable).with_name("prefect"))


@contextmanager
def prefect_server(home: Path, env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Start one with its own PREFECT_HOME, wait until it answers, yield `env` plus its
    PREFECT_API_URL, stop it."""
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
    log = (home / "server.log").open("ab")  # what it answered, for a failure's post-mortem
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
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
