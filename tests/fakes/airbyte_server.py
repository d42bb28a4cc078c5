"""A fake Airbyte public API on loopback: real HTTP, the real wire format (JSON bodies, status
codes, problem documents with the reason in `data.message`), with scripted job progressions
(queued jobs included), auth modes and the faults a real server has: 5xx/429, stalls, outages
(connections dropped unanswered), malformed bodies. Every request it receives and every
response it sends is checked against Airbyte's official models (`airbyte_spec`): a drift on
either side lands in `violations`, which the tests' fixture asserts empty.

What the server *does* is taken from airbyte-platform's handlers, named where each behaviour
is implemented: an inactive connection's 409, a cancel that hits the connection's current
job, paged listings, whole-second durations, bad credentials as the applications backend
answers them. Its clock may run ahead of the tests' (`clock_skew`)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from orchestration.airbyte.client import AirbyteClient, RetryPolicy
from orchestration.config import AirbyteConnection
from tests.fakes.airbyte_spec import check_request, check_response

TERMINAL = {"succeeded", "failed", "cancelled"}
CONFIGURATION_PATH = "/api/v1"


@dataclass
class Script:
    """How a connection's jobs progress: one status per poll, or time-based with `duration`."""

    statuses: list[str] = field(default_factory=lambda: ["running", "succeeded"])
    duration: float | None = None  # seconds running before `final` (time-based progression)
    final: str = "succeeded"
    rows: int = 1234
    bytes: int = 56789


@dataclass
class Connection:
    """A connection as `GET /connections/{id}` shows it."""

    connection_id: str
    script: Script
    name: str
    status: str = "active"  # active | inactive | deprecated | locked
    workspace_id: str = "5ae6b09b-fdec-41af-aaf7-7d94cfc33ef6"
    source_id: str = "a1b2c3d4-0000-4000-8000-000000000001"
    destination_id: str = "a1b2c3d4-0000-4000-8000-000000000002"
    streams: tuple[str, ...] = ("users", "products", "purchases")

    def body(self) -> dict[str, Any]:
        return {
            "connectionId": self.connection_id,
            "name": self.name,
            "sourceId": self.source_id,
            "destinationId": self.destination_id,
            "workspaceId": self.workspace_id,
            "status": self.status,
            "schedule": {"scheduleType": "manual"},
            "configurations": {"streams": [{"name": s} for s in self.streams]},
            "createdAt": 1764000000,
            "tags": [],
        }


@dataclass
class Actor:
    """A source or a destination (Airbyte's "actor") as `GET /sources/{id}` or
    `GET /destinations/{id}` shows it; its configuration as the server masks it."""

    kind: str  # source | destination
    actor_id: str
    name: str
    workspace_id: str

    def body(self) -> dict[str, Any]:
        kind_type = "faker" if self.kind == "source" else "duckdb"
        config: dict[str, Any] = {f"{self.kind}Type": kind_type}
        if self.kind == "destination":
            config["destination_path"] = "/local/warehouse.duckdb"
        return {
            f"{self.kind}Id": self.actor_id,
            "name": self.name,
            f"{self.kind}Type": kind_type,
            "workspaceId": self.workspace_id,
            "definitionId": str(uuid.uuid5(uuid.NAMESPACE_URL, kind_type)),
            "createdAt": 1764000000,
            "configuration": config,
        }


@dataclass
class Job:
    job_id: int
    connection_id: str
    script: Script
    created: float
    status: str = "pending"
    polls: int = 0
    ended: float | None = None  # monotonic time it reached a terminal status
    job_type: str = "sync"
    clock_skew: float = 0.0  # the server's clock minus the tests' (seconds)

    def advance(self) -> None:
        if self.status in TERMINAL:
            return
        if self.script.duration is not None:
            done = time.monotonic() - self.created >= self.script.duration
            self.set_status(self.script.final if done else "running")
        else:
            steps = self.script.statuses
            self.set_status(steps[min(self.polls, len(steps) - 1)])
            self.polls += 1

    def set_status(self, status: str) -> None:
        self.status = status
        if status in TERMINAL and self.ended is None:
            self.ended = time.monotonic()

    def wall(self, monotonic: float) -> int:
        """A monotonic instant as the server's epoch seconds (its clock, whole seconds)."""
        return int(time.time() - time.monotonic() + monotonic + self.clock_skew)

    def body(self) -> dict[str, Any]:
        """As JobResponseMapper (airbyte-server, publicapi/mappers) writes it: `startTime` is
        createdAt and `duration` is updatedAt - createdAt, both whole seconds; `duration` once
        the job is no longer pending; `lastUpdatedAt` only once it ended (then fixed); rows
        and bytes from the aggregated stats whenever there are any (a failed or cancelled job
        keeps what it committed)."""
        created = self.wall(self.created)
        updated = self.wall(self.ended if self.ended is not None else time.monotonic())
        body: dict[str, Any] = {
            "jobId": self.job_id,
            "status": self.status,
            "jobType": self.job_type,
            "startTime": _iso(datetime.fromtimestamp(created, tz=UTC)),
            "connectionId": self.connection_id,
        }
        if self.status != "pending":
            body["duration"] = f"PT{updated - created}S"
        if self.status in TERMINAL:
            body["lastUpdatedAt"] = _iso(datetime.fromtimestamp(updated, tz=UTC))
        if self.status not in ("pending", "queued") and self.polls + int(self.ended is not None):
            share = 1.0 if self.status == "succeeded" else 0.5  # committed so far
            body["rowsSynced"] = int(self.script.rows * share)
            body["bytesSynced"] = int(self.script.bytes * share)
        return body


@dataclass
class Trigger:
    request: re.Pattern[str]
    action: Callable[[], None]
    after: float
    fired: bool = False


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None = None  # respond with this status (None: handle normally)
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering
    process_first: bool = False  # handle the request, then stall (the client times out)
    body: bytes | None = None  # answer with these bytes (e.g. an HTML page) instead
    content_type: str = "application/json"


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
        configuration_api: bool = False,
        credentials_backend: str = "database",
        clock_skew: float = 0.0,
        lists_oldest_first: bool = False,
    ) -> None:
        self.auth, self.token_ttl, self.base_path = auth, token_ttl, base_path
        # How a wrong client secret is answered: "database" (the applications backend of a
        # self-managed server without Keycloak: an unhandled exception, HTTP 500 with only an
        # errorId, ApiExceptionHandler), or "keycloak" (401 invalid-api-key).
        self.credentials_backend = credentials_backend
        self.clock_skew = clock_skew
        self.lists_oldest_first = lists_oldest_first  # a server that ignores `orderBy`
        # The internal configuration API (`POST /api/v1/connections/get`), which dagster-airbyte
        # calls (`make parity`); outside the public spec, so its requests are not checked.
        self.configuration_api = configuration_api
        self.client_id, self.client_secret = client_id, client_secret
        self.static_token, self.username, self.password = token, username, password
        self.connections: dict[str, Connection] = {}
        self.actors: dict[str, Actor] = {}  # sources and destinations, by id
        self.triggers: list[Trigger] = []
        self.jobs: dict[int, Job] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.max_active = 0  # most jobs active at once (concurrency bound checks)
        self.violations: list[str] = []  # requests/responses that break Airbyte's API spec
        self.outage_until = 0.0  # monotonic time until which connections are dropped
        self.dropped = 0  # requests dropped by an outage
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # --- scripting ------------------------------------------------------------------------
    def add_connection(
        self,
        connection_id: str,
        script: Script | None = None,
        *,
        name: str | None = None,
        status: str = "active",
        workspace_id: str | None = None,
        source: str = "Faker",
        destination: str = "Warehouse",
    ) -> str:
        connection = Connection(
            connection_id,
            script or Script(),
            name or f"Faker -> Warehouse {len(self.connections) + 1}",
            status,
        )
        if workspace_id:
            connection.workspace_id = workspace_id
        connection.source_id = self._actor("source", source, connection.workspace_id)
        connection.destination_id = self._actor("destination", destination, connection.workspace_id)
        self.connections[connection_id] = connection
        return connection_id

    def _actor(self, kind: str, name: str, workspace_id: str) -> str:
        actor_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace_id}/{kind}/{name}"))
        self.actors.setdefault(actor_id, Actor(kind, actor_id, name, workspace_id))
        return actor_id

    def when(self, request: str, action: Callable[[], None], *, after: float = 0.0) -> None:
        """Run `action` (under the server's lock) before answering the first request that
        matches `request` ("METHOD /path", a regex; the path without its query) at or after
        `after` (monotonic time): what another Airbyte user does at the moment that matters (a
        newer run starting just as a client gives up on its job)."""
        self.triggers.append(Trigger(re.compile(request), action, after))

    def inject(self, method: str, path: str, **kwargs: Any) -> None:
        self.faults.append(Fault(method, re.compile(path), **kwargs))

    def outage(self, seconds: float) -> None:
        """Stop answering for `seconds`: connections are accepted and dropped unanswered, as
        when a server restarts behind a load balancer."""
        self.outage_until = time.monotonic() + seconds

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: 0.0 for t in self.tokens}

    def peak_active(self) -> int:
        """The most jobs that were ever active (created, not yet ended) at the same moment,
        from each job's exact start and end, not sampled at requests."""
        with self.lock:
            edges = [(j.created, 1) for j in self.jobs.values()]
            edges += [(j.ended, -1) for j in self.jobs.values() if j.ended is not None]
        active = peak = 0
        for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # ends first
            active += step
            peak = max(peak, active)
        return peak

    def active_jobs(self) -> list[Job]:
        with self.lock:
            return [j for j in self.jobs.values() if j.status not in TERMINAL]

    def calls(self, method: str, path_regex: str = ".*") -> list[str]:
        return [p for m, p in self.requests if m == method and re.fullmatch(path_regex, p)]

    def start_job(self, connection_id: str, job_type: str = "sync") -> Job:
        """Start a job as another Airbyte user would (the UI, the scheduler, a reset)."""
        with self.lock:
            return self._create_job(connection_id, job_type)

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.base_path}"

    @property
    def configuration_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{CONFIGURATION_PATH}"

    def __enter__(self) -> FakeAirbyte:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def date_time_string(self, timestamp: float | None = None) -> str:
                """The `Date` header, by the server's clock."""
                moment = time.time() if timestamp is None else timestamp
                return super().date_time_string(moment + fake.clock_skew)

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

    def __exit__(self, exc_type: object, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        if exc_type is None and self.violations:  # a drift from Airbyte's API, either side
            raise AssertionError("Airbyte API spec violations:\n" + "\n".join(self.violations))

    # --- request handling -----------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(req.path)
        path = split.path.removeprefix(self.base_path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        query = parse_qs(split.query)
        if time.monotonic() < self.outage_until:
            with self.lock:
                self.dropped += 1
            req.close_connection = True  # no answer at all
            return
        if self.configuration_api and split.path.startswith(CONFIGURATION_PATH + "/"):
            with self.lock:
                self.requests.append((method, split.path))
            return self._send(req, *self._configuration(method, split.path, raw, req))
        with self.lock:
            self.requests.append((method, path + (f"?{split.query}" if split.query else "")))
            self.violations += check_request(method, path, query, _json_or_raw(raw))
            fault = self._take_fault(method, path)
            for trigger in self.triggers:
                due = time.monotonic() >= trigger.after
                if due and not trigger.fired and trigger.request.fullmatch(f"{method} {path}"):
                    trigger.fired = True
                    trigger.action()
        if fault and not fault.process_first:
            time.sleep(fault.delay)
            if fault.body is not None:
                return self._send_raw(req, 200, fault.body, fault.content_type)
            if fault.status:
                problem = _problem(fault.status, "injected fault")
                return self._send(req, fault.status, problem, fault.headers)
        status, body = self._route(req, method, path, query, raw)
        with self.lock:
            self.violations += check_response(method, path, status, body)
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
            return 401, _problem(401, "invalid or expired credentials")
        with self.lock:
            if method == "POST" and path == "/jobs":
                body = json.loads(raw or b"{}")
                connection_id = body.get("connectionId")
                if body.get("jobType") not in ("sync", "reset", "refresh", "clear"):
                    return 422, _problem(422, f"Unknown jobType: {body.get('jobType')!r}")
                connection = self.connections.get(connection_id)
                if connection is None:
                    return 404, _problem(404, "connection", resource_id=str(connection_id))
                if connection.status != "active":
                    # SchedulerHandler.submitManualSyncToWorker: check(status == ACTIVE) {"Can
                    # only sync an active connection"}, an IllegalStateException, which
                    # ConfigClientErrorHandler answers as a state-conflict with its default text
                    return 409, _problem(409, "Could not fulfill request", title="state-conflict")
                if self._current_job(connection_id) is not None:
                    # TemporalClient.startNewManualSync: WORKFLOW_RUNNING, a try-again-later
                    return 409, _problem(409, f"A sync is already running for: {connection_id}")
                return 200, self._create_job(connection_id).body()
            self.max_active = max(
                self.max_active, sum(j.status not in TERMINAL for j in self.jobs.values())
            )
            if match := re.fullmatch(r"/jobs/(\d+)", path):
                job = self.jobs.get(int(match.group(1)))
                if job is None:
                    return 404, _problem(404, "job", resource_id=match.group(1))
                if method == "GET":
                    job.advance()
                    return 200, job.body()
                if method == "DELETE":
                    # SchedulerHandler.submitCancellationToWorker: the cancel goes to the
                    # connection's workflow (TemporalClient.startNewCancellation), so it stops
                    # the connection's *current* job whatever the id, and succeeds when none
                    # runs; the reply is the requested job, read again.
                    current = self._current_job(job.connection_id)
                    if current is not None:
                        current.set_status("cancelled")
                    return 200, job.body()
            if method == "GET" and path == "/jobs":
                return 200, self._list_jobs(query)
            if method == "GET" and path == "/connections":
                return 200, self._list_connections(query)
            if method == "GET" and path in ("/sources", "/destinations"):
                kind = path.strip("/").removesuffix("s")
                actors = [a for a in self.actors.values() if a.kind == kind]
                return 200, self._page(path, actors, query)
            if match := re.fullmatch(r"/(source|destination)s/([^/]+)", path):
                actor = self.actors.get(match.group(2))
                if method != "GET" or actor is None or actor.kind != match.group(1):
                    return 404, _problem(404, match.group(1), resource_id=match.group(2))
                return 200, actor.body()
            if match := re.fullmatch(r"/workspaces/([^/]+)", path):
                # dagster-airbyte's validate_workspace_id; a WorkspaceResponse
                return 200, {
                    "workspaceId": match.group(1),
                    "name": "Default Workspace",
                    "dataResidency": "auto",
                    "notifications": {},
                }
            if match := re.fullmatch(r"/connections/([^/]+)", path):
                connection = self.connections.get(match.group(1))
                if method != "GET" or connection is None:
                    return 404, _problem(404, "connection", resource_id=match.group(1))
                return 200, connection.body()
        return 404, _problem(404, "endpoint", resource_id=f"{method} {path}")

    def _configuration(
        self, method: str, path: str, raw: bytes, req: BaseHTTPRequestHandler
    ) -> tuple[int, dict[str, Any]]:
        if not self._authorised(req.headers.get("Authorization", "")):
            return 401, _problem(401, "invalid or expired credentials")
        if method == "POST" and path == f"{CONFIGURATION_PATH}/connections/get":
            connection_id = json.loads(raw or b"{}").get("connectionId")
            if connection_id not in self.connections:
                return 404, _problem(404, "connection", resource_id=str(connection_id))
            connection = self.connections[connection_id]
            streams = [
                {"stream": {"name": name}, "config": {"selected": True}}
                for name in connection.streams
            ]
            return 200, {  # ConnectionRead, the fields dagster-airbyte reads
                "connectionId": connection_id,
                "name": connection.name,
                "sourceId": connection.source_id,
                "destinationId": connection.destination_id,
                "syncCatalog": {"streams": streams},
            }
        return 404, _problem(404, "endpoint", resource_id=f"{method} {path}")

    def _create_job(self, connection_id: str, job_type: str = "sync") -> Job:
        script = self.connections[connection_id].script
        job = Job(len(self.jobs) + 1001, connection_id, script, time.monotonic())
        job.job_type, job.clock_skew = job_type, self.clock_skew
        self.jobs[job.job_id] = job
        return job

    def _current_job(self, connection_id: str) -> Job | None:
        """The job the connection's workflow runs now (one at most, of any type)."""
        mine = [j for j in self.jobs.values() if j.connection_id == connection_id]
        for job in mine:
            if job.script.duration is not None:  # time-based: bring it up to now
                job.advance()
        active = [j for j in mine if j.status not in TERMINAL]
        return max(active, key=lambda j: j.job_id) if active else None

    def _list_jobs(self, query: dict) -> dict[str, Any]:
        """As JobsController.listJobs and JobsResponseMapper answer: filtered by connection,
        jobType, status and createdAtStart (the server's clock), ordered by `orderBy`
        (`createdAt|ASC` by default), `limit` (20) from `offset`; `next` is the same query at
        offset + limit whenever this page is not empty (PaginationMapper), `previous` when the
        offset is past 0."""

        def one(name: str) -> str | None:
            return query.get(name, [None])[0]

        # JobsHelper.orderByToFieldAndMethod: createdAt ASC (the oldest first) without orderBy
        order = "createdAt|ASC" if self.lists_oldest_first else one("orderBy")
        field, _, direction = (order or "createdAt|ASC").partition("|")
        key = (lambda j: j.job_id) if field == "createdAt" else (lambda j: j.ended or j.created)
        jobs = sorted(self.jobs.values(), key=key, reverse=direction != "ASC")
        if cid := one("connectionId"):
            jobs = [j for j in jobs if j.connection_id == cid]
        if job_type := one("jobType"):
            jobs = [j for j in jobs if j.job_type == job_type]
        if status := one("status"):
            jobs = [j for j in jobs if j.status == status]
        if since := one("createdAtStart"):
            floor = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            jobs = [j for j in jobs if j.wall(j.created) >= floor]
        limit, offset = int(one("limit") or 20), int(one("offset") or 0)
        page = jobs[offset : offset + limit]
        body: dict[str, Any] = {"data": [j.body() for j in page]}
        kept = {k: v[0] for k, v in query.items() if k not in ("offset", "limit")}
        link = f"{self.url}/jobs?" + urlencode({**kept, "limit": limit})
        if page:
            body["next"] = f"{link}&offset={offset + limit}"
        if offset > 0:
            body["previous"] = f"{link}&offset={max(offset - limit, 0)}"
        return body

    def _list_connections(self, query: dict) -> dict[str, Any]:
        return self._page("/connections", list(self.connections.values()), query)

    def _page(self, path: str, items: list[Any], query: dict) -> dict[str, Any]:
        """As ConnectionsController.listConnections (and the sources' and destinations'
        controllers) page them (PaginationMapper): the workspaces' items (`workspaceIds`,
        comma-separated), `limit` (20) from `offset`, `next` whenever the page is not empty."""
        workspaces = set(",".join(query.get("workspaceIds", [])).split(",")) - {""}
        chosen = [i for i in items if not workspaces or i.workspace_id in workspaces]
        limit = int(query.get("limit", ["20"])[0])
        offset = int(query.get("offset", ["0"])[0])
        page = chosen[offset : offset + limit]
        body: dict[str, Any] = {"data": [i.body() for i in page]}
        link = f"{self.url}{path}?" + urlencode(
            {"workspaceIds": ",".join(sorted(workspaces)), "limit": limit}
        )
        if page:
            body["next"] = f"{link}&offset={offset + limit}"
        if offset > 0:
            body["previous"] = f"{link}&offset={max(offset - limit, 0)}"
        return body

    def _issue_token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        body = json.loads(raw or b"{}")
        if (body.get("client_id"), body.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            if self.credentials_backend == "database":
                # ApplicationServiceDataImpl.getToken throws InvalidClientCredentialsException;
                # ApiExceptionHandler answers with only an errorId
                return 500, {"errorId": str(uuid.uuid4())}
            return 401, _problem(401, "Invalid client_id or client_secret")
        token = secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_ttl
        # `expires_in` is a whole number of seconds (the spec's integer)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl),
        }

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

    @classmethod
    def _send(
        cls,
        req: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        cls._send_raw(req, status, json.dumps(body).encode(), "application/json", headers)

    @staticmethod
    def _send_raw(
        req: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            req.send_response(status)
            req.send_header("Content-Type", content_type)
            req.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                req.send_header(key, value)
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


# Airbyte's problem types (airbyte-platform api-problems.yaml): title and the generic detail;
# the specific reason goes into `data.message` (`data.resourceType/resourceId` for 404s).
PROBLEMS = {
    400: (
        "bad-request",
        "The request could not be understood by the server due to malformed syntax.",
    ),
    401: ("invalid-api-key", "The API key in the Authorization header is invalid."),
    403: ("forbidden", "The request is forbidden."),
    404: ("resource-not-found", "The requested resource could not be found."),
    409: ("try-again-later", "Please try again later."),
    422: ("unprocessable-entity", "The body of the request was not understood"),
    500: ("unexpected-problem", "An unexpected problem has occurred."),
    503: ("service-unavailable", "The server is currently unable to handle the request."),
}


def _problem(
    status: int, message: str, *, resource_id: str | None = None, title: str | None = None
) -> dict[str, Any]:
    default_title, detail = PROBLEMS.get(status, PROBLEMS[500])
    title = title or default_title
    data: dict[str, Any] = (
        {"resourceType": message, "resourceId": resource_id}
        if resource_id is not None
        else {"message": message}
    )
    return {
        "type": f"https://reference.airbyte.com/reference/errors#{title}",
        "title": title,
        "status": status,
        "detail": detail if title == default_title else "State conflict",
        "data": data,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _json_or_raw(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


# A connection id in the shape Airbyte gives them.
CONN = "9f3a1c2e-0000-4000-8000-000000000001"


RETRY_FIELDS = {"backoff_initial", "backoff_max", "max_attempts", "request_timeout"}


def client_for(fake: FakeAirbyte, sleeps: list[float] | None = None, **config) -> AirbyteClient:
    """A client from the Airbyte block (auth fields in `config`), with fast retries."""

    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    retry = {"backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 4}
    retry.update({k: v for k, v in config.items() if k in RETRY_FIELDS})
    auth = {k: v for k, v in config.items() if k not in RETRY_FIELDS}
    block = AirbyteConnection(server_url=fake.url, **auth)
    return block.client(retry=RetryPolicy(**retry), sleep=sleep)


def ours_then_a_newer_run(fake: FakeAirbyte, ours_status: str) -> tuple[Any, Any]:
    """Our job (in `ours_status`), then a run of the same connection started since (running)."""
    fake.add_connection(CONN, Script(statuses=["running"]))
    ours = fake.start_job(CONN)
    ours.set_status(ours_status)
    newer = fake.start_job(CONN)
    newer.set_status("running")
    return ours, newer
