"""Slots of a global concurrency limit across a Prefect server restart, with real holder
processes (flow runs) and a real server restarted on its port and database:

- with Prefect's default in-memory leases, the server forgets every lease: the holders still
  running take their slots over under new leases and give them back; the slot of a holder
  killed meanwhile would stay taken forever, and `elt limits repair` frees it, never a live
  holder's;
- with Redis lease storage (`prefect-redis`, on a real `redis-server`), the leases survive
  the restart: the holder gives its slot back as if nothing happened.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis

from orchestration.limits import LEASE_SECONDS
from tests.conftest import REPO, cli_env, elt_process, wait_until
from tests.fakes.s3 import free_port
from tests.servers import fresh_database, prefect_server, redis_server

pytestmark = pytest.mark.slow  # restarts Prefect servers (and Redis)

NEEDS_PREFECT_API = False  # each test runs (and restarts) a server of its own
LIMIT = "airbyte-api"
RENEW_SECONDS = 1.0  # the holders' renewal cadence (a minute in production)


class Holder:
    """`tests/slot_holder.py` in its own process: holds a slot until released (or killed)."""

    def __init__(self, what: str, env: dict[str, str], root: Path) -> None:
        self.what = what
        self.release_file = root / f"release-{what}"
        self.log = root / f"holder-{what}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.slot_holder",
                    LIMIT,
                    what,
                    str(self.release_file),
                    str(RENEW_SECONDS),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def holding(self) -> bool:
        assert self.process.poll() is None, self.output
        return "holding" in self.output

    def release(self) -> None:
        self.release_file.touch()
        assert self.process.wait(timeout=120) == 0, self.output

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class Server:
    """A Prefect server that can be restarted on the same port, database and home."""

    def __init__(self, home: Path, settings: dict[str, str]) -> None:
        self.home, self.settings, self.port = home, settings, free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self._running: AbstractContextManager[dict[str, str]] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> None:
        self._running = prefect_server(self.home, cli_env(), self.settings, port=self.port)
        self.env = {**self._running.__enter__(), "ELT_LIMIT_AIRBYTE_SYNCS": "3"}

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None

    def active_slots(self) -> int:
        return httpx.get(f"{self.api}/v2/concurrency_limits/{LIMIT}").json()["active_slots"]

    def elt(self, *args: str) -> subprocess.CompletedProcess:
        return elt_process(*args, env=self.env)


@pytest.fixture
def server_settings(postgres) -> dict[str, str]:
    return fresh_database(postgres)


@pytest.fixture
def server(tmp_path: Path, server_settings: dict[str, str]) -> Iterator[Server]:
    running = Server(tmp_path / "prefect", server_settings)
    running.start()
    try:
        applied = running.elt("limits", "apply")
        assert applied.returncode == 0, applied.stderr
        yield running
    finally:
        running.stop()


def test_in_memory_leases_a_restart_leaks_only_a_dead_holders_slot_and_repair_frees_it(
    server: Server, tmp_path: Path
):
    ending, living, killed = (
        Holder(w, server.env, tmp_path) for w in ("ending", "living", "killed")
    )
    wait_until(lambda: ending.holding() and living.holding() and killed.holding(), "3 holders")
    assert server.active_slots() == 3

    killed.kill()  # its slot would free itself when its lease expires, but...
    server.stop()
    server.start()  # ...the restarted server forgot every lease, and still counts 3 slots
    assert server.active_slots() == 3
    for holder in (ending, living):
        wait_until(lambda h=holder: "holds a slot of 'airbyte-api' again" in h.output, "retaken")
        assert "it restarted with in-memory leases" in holder.output
    assert server.active_slots() == 3  # taken over, not taken twice

    ending.release()
    assert server.active_slots() == 2  # the living one's, and the killed one's forever

    shown = server.elt("limits", "show")
    assert shown.returncode == 0, shown.stderr
    assert "hold living" in shown.stdout and "hold killed" in shown.stdout, shown.stdout

    repaired = server.elt("limits", "repair")
    assert repaired.returncode == 0, repaired.stderr
    lines = repaired.stdout.splitlines()
    assert lines[0].startswith(
        "airbyte-api: the Prefect server does not know the leases of 1 running holder(s)"
    ), repaired.stdout
    assert lines[-1].startswith(
        "repaired  airbyte-api: freed 1 slot no live run holds; gave back the leases of 1 "
        "holder(s) gone; 1 slot held by live runs: hold living (flow run '"
    ), repaired.stdout
    assert server.active_slots() == 1  # the living holder's, kept

    living.release()
    assert server.active_slots() == 0
    again = server.elt("limits", "repair")
    assert again.stdout.strip() == "ok        airbyte-api: no live run holds a slot", again.stdout


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    with redis_server(tmp_path / "redis") as port:
        yield port


@pytest.fixture
def server_settings_redis(postgres, redis_port: int) -> dict[str, str]:
    return {
        **fresh_database(postgres),
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
        "PREFECT_REDIS_MESSAGING_PORT": str(redis_port),
    }


def test_redis_leases_survive_a_restart_and_the_slot_is_given_back(
    tmp_path: Path, server_settings_redis: dict[str, str]
):
    server = Server(tmp_path / "prefect", server_settings_redis)
    server.start()
    try:
        assert server.elt("limits", "apply").returncode == 0
        holder = Holder("redis", server.env, tmp_path)
        wait_until(holder.holding, "the holder holds its slot")
        redis = Redis(port=int(server_settings_redis["PREFECT_REDIS_MESSAGING_PORT"]))
        assert redis.keys("prefect:concurrency:lease:*")  # the lease is kept in Redis
        server.stop()
        server.start()
        restarted = datetime.now(UTC)
        wait_until(  # the restarted server renewed the lease it read back from Redis
            lambda: lease_expires(redis) > restarted + timedelta(seconds=LEASE_SECONDS),
            "a renewal on the restarted server",
        )
        assert server.active_slots() == 1
        holder.release()
        assert "no longer knows the lease" not in holder.output  # the lease was still known
        assert server.active_slots() == 0
        repaired = server.elt("limits", "repair")
        assert repaired.stdout.strip() == "ok        airbyte-api: no live run holds a slot"
    finally:
        server.stop()


def lease_expires(redis: Redis) -> datetime:
    """When the one lease kept in Redis expires, as its last renewal set it."""
    (key,) = redis.keys("prefect:concurrency:lease:*")
    return datetime.fromisoformat(json.loads(redis.get(key))["expiration"])
