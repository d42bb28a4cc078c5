"""A fake Airbyte public API on loopback: real HTTP, the real wire format (JSON bodies, status
codes, problem documents), with scripted job progressions, auth modes and injected faults."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Script:
    """How a connection's jobs progress: one status per poll, or time-based with `duration`."""

    statuses: list[str] = field(default_factory=lambda: ["running", "succeeded"])
    duration: float | None = None  # seconds running before `final` (time-based progression)
    final: str = "succeeded"
    rows: int = 1234
    bytes: int = 56789


@dataclass
class Job:
    job_id: int
    connection_id: str
    script: Script
    created: float
    status: str = "pending"
    polls: int = 0

    def advance(self) -> None:
        if self.status in TERMINAL:
            return
        if self.script.duration is not None:
            done = time.monotonic() - self.created >= self.script.duration
            self.status = self.script.final if done else "running"
        else:
            steps = self.script.statuses
            self.status = steps[min(self.polls, len(steps) - 1)]
            self.polls += 1

    def body(self) -> dict[str, Any]:
        started = datetime.fromtimestamp(time.time() - (time.monotonic() - self.created), tz=UTC)
        body: dict[str, Any] = {
            "jobId": self.job_id,
            "status": self.status,
            "jobType": "sync",
            "startTime": started.isoformat().replace("+00:00", "Z"),
            "connectionId": self.connection_id,
            "lastUpdatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if self.status in TERMINAL:
            body["duration"] = f"PT{max(time.monotonic() - self.created, 0):.3f}S"
            if self.status == "succeeded":
                body["rowsSynced"] = self.script.rows
                body["bytesSynced"] = self.script.bytes
        return body


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None = None  # respond with this status (None: handle normally)
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering
    process_first: bool = False  # handle the request, then stall (the client times out)


class FakeAirbyte:
    def __init__(
        self,
        *,
        auth: str = "none",
        client_id: str = "client-id",
        client_secret: str = "client-secret",
        token: str = "static-token",
        username: str = "airbyte",
        password: str = "password",
        token_ttl: float = 180,
        base_path: str = "/api/public/v1",
    ) -> None:
        self.auth, self.token_ttl, self.base_path = auth, token_ttl, base_path
        self.client_id, self.client_secret = client_id, client_secret
        self.static_token, self.username, self.password = token, username, password
        self.scripts: dict[str, Script] = {}
        self.jobs: dict[int, Job] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.max_active = 0  # most jobs active at once (concurrency bound checks)
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # --- scripting ------------------------------------------------------------------------
    def add_connection(self, connection_id: str, script: Script | None = None) -> str:
        self.scripts[connection_id] = script or Script()
        return connection_id

    def inject(self, method: str, path: str, **kwargs: Any) -> None:
        self.faults.append(Fault(method, re.compile(path), **kwargs))

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: 0.0 for t in self.tokens}

    def calls(self, method: str, path_regex: str = ".*") -> list[str]:
        return [p for m, p in self.requests if m == method and re.fullmatch(path_regex, p)]

    def start_job(self, connection_id: str) -> Job:
        """Start a job as another Airbyte user would (e.g. the UI)."""
        with self.lock:
            return self._create_job(connection_id)

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.base_path}"

    def __enter__(self) -> FakeAirbyte:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- request handling -----------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(req.path)
        path = split.path.removeprefix(self.base_path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, path + (f"?{split.query}" if split.query else "")))
            fault = self._take_fault(method, path)
        if fault and not fault.process_first:
            time.sleep(fault.delay)
            if fault.status:
                return self._send(
                    req, fault.status, _problem(fault.status, "injected fault"), fault.headers
                )
        status, body = self._route(req, method, path, parse_qs(split.query), raw)
        if fault and fault.process_first:
            time.sleep(fault.delay)
        self._send(req, status, body)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.path.fullmatch(path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _route(
        self, req: BaseHTTPRequestHandler, method: str, path: str, query: dict, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/applications/token":
            return self._issue_token(raw)
        if not self._authorised(req.headers.get("Authorization", "")):
            return 401, _problem(401, "Unauthorized", "invalid or expired credentials")
        with self.lock:
            if method == "POST" and path == "/jobs":
                body = json.loads(raw or b"{}")
                connection_id = body.get("connectionId")
                if body.get("jobType") not in ("sync", "reset"):
                    return 422, _problem(422, "bad-request", "jobType must be sync or reset")
                if connection_id not in self.scripts:
                    return 404, _problem(
                        404, "resource-not-found", f"connection {connection_id} not found"
                    )
                if any(
                    j.connection_id == connection_id and j.status not in TERMINAL
                    for j in self.jobs.values()
                ):
                    return 409, _problem(
                        409, "try-again-later", f"A sync is already running for: {connection_id}"
                    )
                return 200, self._create_job(connection_id).body()
            self.max_active = max(
                self.max_active, sum(j.status not in TERMINAL for j in self.jobs.values())
            )
            if match := re.fullmatch(r"/jobs/(\d+)", path):
                job = self.jobs.get(int(match.group(1)))
                if job is None:
                    return 404, _problem(
                        404, "resource-not-found", f"job {match.group(1)} not found"
                    )
                if method == "GET":
                    job.advance()
                    return 200, job.body()
                if method == "DELETE":
                    if job.status in TERMINAL:
                        return 409, _problem(
                            409, "job-not-running", f"job {job.job_id} is not running"
                        )
                    job.status = "cancelled"
                    return 200, job.body()
            if method == "GET" and path == "/jobs":
                return 200, self._list_jobs(query)
        return 404, _problem(404, "not-found", f"{method} {path}")

    def _create_job(self, connection_id: str) -> Job:
        job = Job(
            len(self.jobs) + 1001, connection_id, self.scripts[connection_id], time.monotonic()
        )
        self.jobs[job.job_id] = job
        return job

    def _list_jobs(self, query: dict) -> dict[str, Any]:
        def one(name: str) -> str | None:
            return query.get(name, [None])[0]

        jobs = sorted(self.jobs.values(), key=lambda j: j.job_id, reverse=True)
        if cid := one("connectionId"):
            jobs = [j for j in jobs if j.connection_id == cid]
        if status := one("status"):
            jobs = [j for j in jobs if j.status == status]
        if since := one("createdAtStart"):
            floor = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            offset = time.time() - time.monotonic()
            jobs = [j for j in jobs if j.created + offset >= floor]
        return {
            "data": [j.body() for j in jobs[: int(one("limit") or 20)]],
            "previous": None,
            "next": None,
        }

    def _issue_token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        body = json.loads(raw or b"{}")
        if (body.get("client_id"), body.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return 401, _problem(401, "Unauthorized", "invalid client credentials")
        token = secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_ttl
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}

    def _authorised(self, header: str) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "bearer":
            return header == f"Bearer {self.static_token}"
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        token = header.removeprefix("Bearer ")
        with self.lock:
            return self.tokens.get(token, 0.0) > time.monotonic()

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                req.send_header(key, value)
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


def _problem(status: int, title: str, detail: str = "") -> dict[str, Any]:
    return {
        "type": f"https://reference.airbyte.com/reference/errors#{title}",
        "title": title,
        "status": status,
        "detail": detail or title,
    }
