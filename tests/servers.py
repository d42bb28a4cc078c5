"""A real `prefect server start` on loopback, for tests (session fixture) and benchmarks: what
a deployment's commands talk to, never a temporary server started per command."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

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
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
                raise RuntimeError("prefect server start did not answer within 180 s")
            time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=60)
