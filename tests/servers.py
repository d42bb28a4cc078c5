"""Servers on loopback for tests and benchmarks: a real `prefect server start` (what a
deployment's commands talk to, never a temporary server started per command), and a webhook
endpoint that records what an automation posts.

Every Prefect server started here writes its log to `server.log` in its home, and
`log_problems` reads what it wrote since it was last read: the tests fail on a traceback or an
ERROR line from any server they started (a failing server service is otherwise silent: the
scheduler failed every loop for weeks while every test passed)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx

from orchestration.server.local_server import problem_lines
from tests.fakes.s3 import free_port
from tests.system import debian_program

PREFECT = str(Path(sys.executable).with_name("prefect"))


@dataclass
class ServerLog:
    """The log of one server a test started, read incrementally. Only `elt`'s own local
    server runs on SQLite in the tests: its tests may ignore SQLITE_CONTENTION, no other."""

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


# Every server log of this test process, checked after each test (tests/conftest.py).
SERVER_LOGS: list[ServerLog] = []


def watch_log(path: Path) -> ServerLog:
    log = ServerLog(path, path.stat().st_size if path.exists() else 0)
    SERVER_LOGS.append(log)
    return log


TEMPLATE_DATABASE = "prefect_template"


class Postgres:
    """A PostgreSQL cluster of our own on loopback (Debian's server programs, run as the
    `postgres` user when we are root): the database of the test Prefect servers, as a team's
    server has. On SQLite, the test servers' concurrent writers (several flows, workers and the
    server's services at once) meet "database is locked" and wait out Prefect's client backoff,
    up to a minute for one state change: a cancelled run then took 58 s to end."""

    def __init__(self, root: Path) -> None:
        initdb = debian_program("initdb", "postgresql", pattern="/usr/lib/postgresql/*/bin/initdb")
        if initdb is None:
            raise RuntimeError(
                "PostgreSQL's server programs are needed: apt-get install postgresql"
            )
        self.bin = Path(initdb).resolve().parent
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._databases = 0
        self._template_ready = False

    @property
    def _owner(self) -> dict[str, Any]:
        """PostgreSQL refuses to run as root: then its programs run as `postgres`."""
        return (
            {"user": "postgres", "group": "postgres", "extra_groups": []}
            if os.geteuid() == 0
            else {}
        )

    def start(self) -> None:
        data = self.root / "data"
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.root,
            **self._owner,
        )
        log = (self.root / "postgres.log").open("ab")
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "max_connections": "300",
            "fsync": "off",  # a throwaway cluster: durability buys nothing here
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            **self._owner,
        )
        log.close()
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
            ).returncode
            != 0
        ):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {self.root}/postgres.log")
            time.sleep(0.2)

    def new_database(self) -> str:
        """A fresh database with Prefect's schema; its SQLAlchemy URL for Prefect (asyncpg).

        A copy of a template migrated once per cluster: a server starting on an empty
        database runs all of Prefect's migrations first, about 10 s of CPU each time."""
        if not self._template_ready:
            self._createdb(TEMPLATE_DATABASE)
            home = self.root / "migrating-home"
            home.mkdir(exist_ok=True)
            migrated = subprocess.run(
                [PREFECT, "server", "database", "upgrade", "--yes"],
                env={**os.environ, "PREFECT_HOME": str(home),
                     "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.url(TEMPLATE_DATABASE)},
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if migrated.returncode != 0:
                raise RuntimeError(
                    f"migrating the template database:\n{migrated.stdout}{migrated.stderr}"
                )
            self._template_ready = True
        self._databases += 1
        name = f"prefect_{self._databases}"
        self._createdb("--template", TEMPLATE_DATABASE, name)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _createdb(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def postgres_cluster() -> Iterator[Postgres | None]:
    """A PostgreSQL cluster for the test Prefect servers, stopped and removed afterwards; None
    without PostgreSQL (not installed, and not root to install it) off CI: SQLite then."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="elt-tests-postgres-"))
    try:
        try:
            cluster = Postgres(root)
        except RuntimeError:
            if os.environ.get("CI"):
                raise
            yield None
            return
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def api_for_this_process(
    home: Path, env: Mapping[str, str], settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """A real Prefect server (see `prefect_server`) that this process's flows talk to, its
    threads included (dbt's do not copy the context: Prefect's test harness does the same).
    Their logs and events are sent before it stops."""
    with prefect_server(home, env, settings) as server, _this_process_on(server) as api:
        yield api


@contextmanager
def bench_api_for_this_process(home: Path, env: Mapping[str, str]) -> Iterator[str]:
    """`api_for_this_process`, on the server `BENCH_PREFECT_API_URL` names when it is set
    (see `bench_server`)."""
    with bench_server(home, env) as server, _this_process_on(server) as api:
        yield api


@contextmanager
def _this_process_on(server: Mapping[str, str]) -> Iterator[str]:
    """This process and its threads on `server`; its logs and events sent before leaving."""
    from prefect.context import get_settings_context
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from orchestration.upstream import process_wide_settings

    with (
        temporary_settings({PREFECT_API_URL: server["PREFECT_API_URL"]}),
        process_wide_settings(get_settings_context()),
    ):
        try:
            yield server["PREFECT_API_URL"]
        finally:  # what the flows logged and emitted reaches the server before it stops
            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)


def fresh_database(cluster: Postgres | None) -> dict[str, str]:
    """The database setting of a test Prefect server: a new database of `cluster`."""
    return (
        {}
        if cluster is None
        else {"PREFECT_SERVER_DATABASE_CONNECTION_URL": cluster.new_database()}
    )


@contextmanager
def prefect_server(
    home: Path,
    env: Mapping[str, str],
    settings: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Iterator[dict[str, str]]:
    """Start one with its own PREFECT_HOME (and any server `settings`, e.g. `fresh_database()`),
    wait until it answers, yield `env` plus its PREFECT_API_URL, stop it. Its log is watched
    (`SERVER_LOGS`). A restart is the same `home`, `settings` and `port` again."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
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


# A running Prefect server a benchmark may use instead of starting its own (`bench_server`):
# the smoke tests give theirs, so a smoke run starts no second server. Never set for a
# measurement: a benchmark times its own, idle server.
BENCH_SERVER_VARIABLE = "BENCH_PREFECT_API_URL"


@contextmanager
def bench_server(home: Path, env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """`prefect_server(home, env)`, or the server `BENCH_PREFECT_API_URL` names (its log is
    the caller's to watch): `env` plus PREFECT_HOME and PREFECT_API_URL either way."""
    given = os.environ.get(BENCH_SERVER_VARIABLE)
    if not given:
        with prefect_server(home, env) as server:
            yield server
        return
    home.mkdir(parents=True, exist_ok=True)
    yield {**env, "PREFECT_HOME": str(home), "PREFECT_API_URL": given}


@contextmanager
def redis_server(root: Path) -> Iterator[int]:
    """A Redis server of our own on loopback (Debian's `redis-server`, installed when missing
    and we may), nothing persisted; yields its port, stops it."""
    program = debian_program("redis-server", "redis-server")
    if program is None:
        raise RuntimeError("Redis is needed: apt-get install redis-server")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (root / "redis.log").open("ab")
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(root)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within 60 s: {root}/redis.log")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def create_flow_run(api: str, deployment_id: str, parameters: dict[str, object]) -> str:
    """Create a run of a deployment as `prefect deployment run` does, through Prefect's client:
    it retries the 503 a busy SQLite server answers under load (a raw POST would not); returns
    the flow run's id."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api) as client:
        run = client.create_flow_run_from_deployment(UUID(deployment_id), parameters=parameters)
    return str(run.id)


class TcpProxy:
    """A TCP forwarder on loopback to `target_port` that can be cut: `down()` closes every
    connection through it and every new one at once, as a network outage looks to a client
    (its pooled keep-alive connections included); `up()` forwards again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/api") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def down(self) -> None:
        with self._lock:
            self._up = False
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def up(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port))
                except OSError:
                    client.close()
                    continue
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


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

    def calls_before_a_sentinel(self, api: str, timeout: float = 120) -> list[dict]:
        """Every call the server sent for the events before now: a sentinel breach (of a table
        that does not exist) is sent to the server last, and once the shipped
        `elt-freshness-breached` automation has called for it, the server's triggers have
        evaluated every event before it. A positive signal, instead of a wait for nothing."""
        table = f"sentinel-{uuid4().hex[:8]}"
        now = datetime.now(UTC).isoformat()
        event = {
            "id": str(uuid4()),
            "occurred": now,
            "event": "elt.freshness.breached",
            "resource": {"prefect.resource.id": f"elt.freshness.test.source.{table}"},
            "payload": {  # every field the shipped alert's template reads
                "table": table,
                "kind": "source",
                "target": "test",
                "age_hours": 0,
                "sla": "none",
                "newest": now,
                "message": "a sentinel",
            },
        }
        httpx.post(f"{api}/events", json=[event], timeout=30).raise_for_status()
        deadline = time.monotonic() + timeout
        while not any(call.get("table") == table for call in self.calls):
            assert time.monotonic() < deadline, f"the sentinel alert {table} never came"
            time.sleep(0.2)
        return [call for call in self.calls if call.get("table") != table]
