"""One local Prefect server shared by the `elt` commands of a checkout.

Without PREFECT_API_URL, Prefect starts a temporary server inside every command and stops it at
the end: about 10 s of each `elt run`, and blocks, limits, deployments or runs saved on it
vanish with it. Instead, the first command that needs a server starts `prefect server start` on
loopback in the background (its data, log and state under ELT_HOME, `.elt/` in the repository
whatever the working folder), says where it runs and how to stop it, and every later command
reuses it. ELT_LOCAL_SERVER=0 keeps Prefect's temporary server per command. A PREFECT_API_URL
that is set (environment, .env, Prefect profile) always wins.

What makes it safe to share:
- It listens on 4200 when that port is free (the next free one otherwise) and keeps its port
  across restarts, and its UI reaches its own API (Prefect derives the UI's API address
  from PREFECT_SERVER_API_HOST and _PORT, which the server is started with): the address
  printed, the UI's "View at" links and a bookmark keep working.
- The state file records the process's identity (its start time from /proc) with its pid, so a
  pid reused by another program is never signalled, and a server that is alive but does not
  answer is reported (pid, log, what to do), never silently doubled on the same database.
- `elt server status` reads the server's log since it started and reports failing services.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

import httpx

from orchestration.errors import ConfigError, LocalServerNotAnswering
from orchestration.runtime.ticker import Ticker

T = TypeVar("T")

__all__ = [
    "LocalServer",
    "ensure_local_server",
    "home",
    "is_local_api",
    "local_server_enabled",
    "process_alive",
    "process_identity",
    "processes_left",
    "recorded",
    "run_as_script",
    "running",
    "service_failures",
    "started_by_this_process",
    "stop",
    "use_local_server",
]

PREFERRED_PORT = 4200
START_TIMEOUT_SECONDS = 180.0
ANSWER_TIMEOUT_SECONDS = 10.0  # a server that started long ago and is silent this long is hung
STOP_TIMEOUT_SECONDS = 30.0
KILL_TIMEOUT_SECONDS = 30.0  # a killed process ends once its current system call does


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int
    started: float = 0.0  # time.time() when it was started
    identity: str = ""  # the process's start time in clock ticks since boot (/proc/PID/stat)
    log_offset: int = 0  # where its log began when it started
    answered: bool = False  # it has answered once: its start is over

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def home() -> Path:
    """ELT_HOME (environment, then .env), relative to the repository, not the working folder:
    `elt` run from `dbt_project/` finds the same server as from the root."""
    from orchestration.config.local_settings import local_settings

    return local_settings().elt_home


def local_server_enabled() -> bool:
    """True unless ELT_LOCAL_SERVER is off or a Prefect API is already configured."""
    from orchestration.config.local_settings import local_settings

    if not local_settings().elt_local_server:
        return False
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url


def use_local_server(say: Callable[[str], None] = print) -> None:
    """Point this process at the local server (started when needed) unless a Prefect API is
    configured or ELT_LOCAL_SERVER is off: what `elt` commands, `elt serve` and
    `python -m orchestration.flows.*` call first."""
    if local_server_enabled():
        ensure_local_server(say)


def run_as_script(flow: Callable[[], T]) -> T:
    """`python -m orchestration.flows.<name>`: `flow` on the shared local server, as `elt`
    commands run it, with the settings our processes run with (this process imported Prefect
    before it could apply them as environment defaults)."""
    from orchestration.runtime import process_defaults

    use_local_server()  # first: it refreshes the settings the defaults are then laid over
    with process_defaults.as_prefect_defaults():
        return flow()


def ensure_local_server(say: Callable[[str], None] = print) -> LocalServer:
    """The running local server, started (and announced through `say`) when there is none;
    PREFECT_API_URL is set to it for this process and the processes it starts."""
    server = running()  # the usual case, which needs no lock (nor a writable ELT_HOME)
    started = False
    if server is None:
        with _locked():
            server = running()  # another command may have started it meanwhile
            if server is None:
                say("starting a local Prefect server (its first start takes longest)...")
                with Ticker(lambda s: f"... still starting it ({s:.0f}s)", say):
                    server, lost_port = _start()
                if lost_port:
                    say(lost_port)
                say(
                    f"started a local Prefect server at {server.ui_url} (UI and API; log "
                    f"{_log_path()}); later elt commands reuse it; stop it with `elt server stop`"
                )
                started = True
    os.environ["PREFECT_API_URL"] = server.api_url  # for the processes this one starts
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()  # and for this one, whose settings were read already
    _started_here[:] = [started]
    return server


_started_here: list[bool] = []


def started_by_this_process() -> bool:
    """Whether `ensure_local_server` started the local server (rather than found it)."""
    return bool(_started_here and _started_here[0])


def running() -> LocalServer | None:
    """The local server recorded in ELT_HOME when its process is alive and answers; None when
    there is none. Raises LocalServerNotAnswering for one that is alive and does not answer
    (still starting: waited for up to START_TIMEOUT_SECONDS from its start)."""
    server = _recorded()
    if server is None or not _is_alive(server):
        return None
    deadline = time.time() + ANSWER_TIMEOUT_SECONDS
    if not server.answered:  # still starting (another command started it): give it its time
        deadline = max(deadline, server.started + START_TIMEOUT_SECONDS)
    while not _healthy(server):
        if not _is_alive(server):
            return None
        if time.time() > deadline:
            raise LocalServerNotAnswering(
                f"the local Prefect server (pid {server.pid}, {server.ui_url}) is running but "
                f"does not answer; see {_log_path()}: stop it with `elt server stop`, or set "
                "PREFECT_API_URL to another server"
            )
        time.sleep(0.5)
    return server


def stop() -> LocalServer | None:
    """Stop the local server, answering or not; returns what was stopped (None when none was
    running). Only the process this checkout started is signalled, with its process group."""
    with _locked():
        server = _recorded()
        if server is None or not _is_alive(server):
            _forget_process()
            return None
        for sig in (signal.SIGTERM, signal.SIGCONT):  # SIGCONT: a stopped process handles TERM
            _signal_group(server.pid, sig)
        # Until every process of its group is gone: `prefect server start` serves from a child
        # process, which can hold the port a moment after the parent has ended. The kernel
        # frees the port as the last holder ends, and the next start must find it free to keep it.
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while processes_left(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        if processes_left(server):
            _signal_group(server.pid, signal.SIGKILL)
            for pid in _our_port_holders(server.port):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
            while processes_left(server) and time.monotonic() < deadline:
                time.sleep(0.1)
        _forget_process()
    return server


def service_failures(server: LocalServer, limit: int = 5) -> list[str]:
    """The last `limit` ERROR records its log has had since it started (each with the
    exception that ended it): a server service (scheduler, triggers, ...) that fails does so
    only there. SQLite's "database is locked" is left out: the server answers the request
    with a 503 that Prefect's clients retry, nothing is lost."""
    return _log_problems(server.log_offset)[-limit:]


def _log_problems(offset: int) -> list[str]:
    try:
        with _log_path().open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return []
    return problem_lines(text, ignored=[SQLITE_CONTENTION])


# SQLite's answer when two of the server's transactions want to write at once: a 503 that
# Prefect's clients retry with backoff (2, 4, 8... s).
SQLITE_CONTENTION = re.compile("database is locked")
# A record in Prefect's console format (`12:00:00.000 | ERROR   | logger - ...`) or uvicorn's
# (`ERROR:    ...`); a problem is one at ERROR or above, or a bare traceback (a thread's).
_RECORD_START = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \||^[A-Z]+:  ")
_PROBLEM = re.compile(r"^\S+ \| (ERROR|CRITICAL) +\||^(ERROR|CRITICAL):|^Traceback \(most recent")


def problem_lines(text: str, ignored: Iterable[re.Pattern[str]] = ()) -> list[str]:
    """The problems of a Prefect server's log `text`, one line each: the record's first line
    and, for a traceback, its exception (the record's last unindented line). A record in which
    any `ignored` pattern occurs is left out."""
    records: list[list[str]] = []
    for line in text.splitlines():
        if _RECORD_START.match(line) or not records:
            records.append([line])
        elif line.startswith("Traceback") and not _PROBLEM.search(records[-1][0]):
            records.append([line])  # a bare traceback (uvicorn's, a thread's)
        else:
            records[-1].append(line)
    patterns = list(ignored)
    found = []
    for lines in records:
        whole = "\n".join(lines)
        if not _PROBLEM.search(lines[0]) or any(p.search(whole) for p in patterns):
            continue
        tail = [x for x in lines[1:] if x and not x.startswith(" ") and "Traceback" not in x]
        found.append(lines[0].strip() + (f" ... {tail[-1].strip()}" if tail else ""))
    return found


def _start() -> tuple[LocalServer, str]:
    """The server started on the first of the candidate ports it can bind, and, when that is
    not the port it had last time, a line that says what held that one (else "")."""
    log_path = _log_path()
    kept = _read_state().get("port")
    ports = _candidate_ports()
    kept_holder = ""
    retry_kept_until: float | None = None
    while ports:
        port = ports[0]
        env = {
            **os.environ,
            "PREFECT_HOME": str(_prefect_home()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true",
            # The UI asks /ui-settings where its API is: Prefect derives it from these two
            # (tests/integration/test_local_server.py reads it back).
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
        }
        env.pop("PREFECT_API_URL", None)
        with _writable():
            log = log_path.open("ab")
        with log:
            offset = log.tell()
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("prefect")), "server", "start",
                 "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives this command, and its Ctrl-C
            )  # fmt: skip
        server = LocalServer(process.pid, port, time.time(), _identity(process.pid), offset)
        _save_state(server)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _healthy(server):
            if process.poll() is not None:
                break  # e.g. the port was taken meanwhile: try the next one
            if time.monotonic() > deadline:
                _signal_group(process.pid, signal.SIGKILL)
                break
            time.sleep(0.3)
        else:
            server = replace(server, answered=True)
            _save_state(server)
            if not kept or port == kept:
                return server, ""
            holder = kept_holder or port_holders(kept) or "by a process gone since"
            return server, f"port {kept}, its port last time, was taken ({holder})"

        _forget_process()
        if not _lost_its_port(offset):  # it did not fail for its port: do not try others
            break
        if port == kept:
            # Its port, taken between our check and the server's bind (which comes after the
            # server's own start-up, seconds later): given a while from now to be freed.
            kept_holder = port_holders(port) or kept_holder
            retry_kept_until = retry_kept_until or time.monotonic() + KEPT_PORT_WAIT_SECONDS
            while not _port_free(port) and time.monotonic() < retry_kept_until:
                time.sleep(0.2)
            if _port_free(port) and time.monotonic() < retry_kept_until:
                continue
            kept_holder = port_holders(port) or kept_holder
        ports = ports[1:]
    problems = _log_problems(offset)
    raise ConfigError(
        "the local Prefect server did not start"
        + (f" ({problems[-1]})" if problems else "")
        + f" (see {log_path}): set PREFECT_API_URL to a running server, or ELT_LOCAL_SERVER=0 "
        "for a temporary one"
    )


def _lost_its_port(offset: int) -> bool:
    """Whether the server that just exited found its port taken (between our check and its
    own, if only for a moment): its output says so, whoever holds the port now. Prefect's own
    check prints "Port N is already in use" as plain text, uvicorn's bind an ERROR record."""
    try:
        with _log_path().open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return False
    return PORT_TAKEN.search(text) is not None


PORT_TAKEN = re.compile(r"already in use", re.IGNORECASE)
KEPT_PORT_WAIT_SECONDS = 10.0  # a kept port still held: most likely by our server, just stopped


def port_holders(port: int) -> str:
    """The processes listening on `port`, as `pid N: command`, for saying why a port was not
    ours; "" when none is."""
    holders = []
    for proc in _listeners(port):
        with contextlib.suppress(OSError):
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            holders.append(f"pid {proc.name}: {command.strip()[:120]}")
    return "; ".join(holders)


def _candidate_ports(attempts: int = 3) -> list[int]:
    """The port it had last time, else 4200, else the next free ones after 4200. A kept port
    still taken is given a moment to be freed (the kernel lets go of it as its last holder
    ends) before another one is taken."""
    kept = _read_state().get("port")
    first = int(kept or PREFERRED_PORT)
    deadline = time.monotonic() + (KEPT_PORT_WAIT_SECONDS if kept else 0)
    while not _port_free(first) and time.monotonic() < deadline:
        time.sleep(0.2)
    ports: list[int] = []
    for port in dict.fromkeys((first, *range(PREFERRED_PORT, PREFERRED_PORT + 200))):
        if len(ports) == attempts:
            break
        if _port_free(port):
            ports.append(port)
    return ports


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _healthy(server: LocalServer) -> bool:
    """The server on its port answers and is this checkout's: it reports our PREFECT_HOME
    (another Prefect server may hold the port, one that started meanwhile or never was ours)."""
    try:
        response = httpx.get(f"{server.api_url}/admin/settings", timeout=2)
        return response.status_code == 200 and response.json().get("home") == str(_prefect_home())
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def _prefect_home() -> Path:
    return home() / "prefect"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None without it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _identity(pid: int) -> str:
    """The process's start time since boot (Linux); "" where /proc cannot tell."""
    fields = _proc_stat(pid)
    return fields[19] if fields else ""  # field 22 of stat


def _is_alive(server: LocalServer) -> bool:
    """The recorded process still runs and is the same process (not a reused pid)."""
    return process_alive(server.pid, server.identity)


def process_identity(pid: int) -> str:
    """What tells process `pid` from a later one given the same pid: its start time."""
    return _identity(pid)


def process_alive(pid: int, identity: str) -> bool:
    """Process `pid` still runs and is the one whose `process_identity` was `identity`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not the one this checkout started
    fields = _proc_stat(pid)
    if fields is None:  # no /proc here: the pid is all there is to go by
        return True
    return fields[0] != "Z" and (not identity or fields[19] == identity)


def recorded() -> LocalServer | None:
    """The local server this checkout started last, as recorded (alive or not)."""
    return _recorded()


def is_local_api() -> bool:
    """Whether this process's Prefect API is the local server of this checkout."""
    from prefect.settings import get_current_settings

    server = _recorded()
    return server is not None and get_current_settings().api.url == server.api_url


def processes_left(server: LocalServer) -> bool:
    """The server, any process of its group (its children), or any process of ours still
    holding its port, still runs."""
    if _is_alive(server) or _our_port_holders(server.port):
        return True
    try:
        os.killpg(server.pid, 0)  # started with a session of its own: its group is its pid
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _our_port_holders(port: int) -> list[int]:
    """The processes of this checkout's server (their PREFECT_HOME is ours) that hold a
    listening socket on `port`, whatever their group: one that left the server's group still
    holds the port after the server has ended, and the next start would lose its port."""
    ours = f"PREFECT_HOME={_prefect_home()}".encode()
    holders = []
    for proc in _listeners(port):
        with contextlib.suppress(OSError):
            if ours in (proc / "environ").read_bytes().split(b"\0"):
                holders.append(int(proc.name))
    return holders


def _listeners(port: int) -> list[Path]:
    """The /proc folders of the processes (those this user may see) that hold a socket
    listening on `port`, on any address."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return []
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    found.append(proc)
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # started with a session of its own: its group is its pid


def _state_path() -> Path:
    return home() / "prefect-server.json"


def _log_path() -> Path:
    return home() / "prefect-server.log"


def _read_state() -> dict:
    try:
        state = json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _recorded() -> LocalServer | None:
    state = _read_state()
    try:
        return LocalServer(
            int(state["pid"]),
            int(state["port"]),
            float(state.get("started", 0)),
            str(state.get("identity", "")),
            int(state.get("log_offset", 0)),
            bool(state.get("answered", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _save_state(server: LocalServer) -> None:
    with _writable():
        _state_path().write_text(json.dumps(asdict(server)))


def _forget_process() -> None:
    """Keep only the port, so the next server listens where this one did."""
    state = _read_state()
    if "pid" in state:
        with _writable():
            _state_path().write_text(json.dumps({"port": state.get("port")}))


@contextlib.contextmanager
def _writable() -> Iterator[None]:
    """A read-only or full ELT_HOME is one line naming it, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"cannot write the local Prefect server's files in {home()} ({exc.strerror}): set "
            "ELT_HOME to a writable folder, or PREFECT_API_URL to a running server"
        ) from None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One command at a time decides whether to start the server (two at once start one)."""
    with _writable():
        home().mkdir(parents=True, exist_ok=True)
        lock = (home() / "prefect-server.lock").open("w")
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
