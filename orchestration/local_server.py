"""One local Prefect server shared by the `elt` commands of a checkout.

Without PREFECT_API_URL, Prefect starts a temporary server inside every command and stops it at
the end: about 10 s of each `elt run`, and blocks, limits or automations saved on it vanish with
it. Instead, the first command that needs a server starts `prefect server start`
on loopback in the background (its data, log and state under ELT_HOME, `.elt/`), says where it
runs and how to stop it, and every later command reuses it. `elt server stop` stops it;
ELT_LOCAL_SERVER=0 keeps Prefect's temporary server per command. A PREFECT_API_URL that is set
(environment, .env, Prefect profile) always wins.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from orchestration.errors import ConfigError

__all__ = ["LocalServer", "ensure_local_server", "local_server_enabled", "running", "stop"]

START_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int
    started: float = 0.0  # time.time() when it was started

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def home() -> Path:
    return Path(os.environ.get("ELT_HOME") or ".elt").resolve()


def local_server_enabled() -> bool:
    """True unless ELT_LOCAL_SERVER is off or a Prefect API is already configured."""
    from orchestration.config.sources import read_environment

    setting = read_environment().get("ELT_LOCAL_SERVER", "1")  # the environment, then .env
    if setting.strip().lower() in ("0", "false", "no", "off"):
        return False
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url


def ensure_local_server(say: Callable[[str], None] = print) -> LocalServer:
    """The running local server, started (and announced through `say`) when there is none;
    PREFECT_API_URL is set to it for this process and the processes it starts."""
    with _locked():
        server = running()
        if server is None:
            server = _start()
            say(
                f"started a local Prefect server at {server.ui_url} (UI and API; log "
                f"{_log_path()}); later elt commands reuse it; stop it with `elt server stop`"
            )
    os.environ["PREFECT_API_URL"] = server.api_url  # for the processes this one starts
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()  # and for this one, whose settings were read already
    return server


def running() -> LocalServer | None:
    """The local server recorded in ELT_HOME, if it is alive and answers."""
    try:
        state = json.loads(_state_path().read_text())
        server = LocalServer(int(state["pid"]), int(state["port"]), float(state["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    while _alive(server.pid):
        if _healthy(server):
            return server
        if time.time() - server.started > START_TIMEOUT_SECONDS:
            return None  # not starting any more: gone, or its pid is another process's now
        time.sleep(0.5)
    return None


def stop() -> LocalServer | None:
    """Stop the local server; returns what was stopped (None when none was running)."""
    with _locked():
        server = running()
        if server is not None:
            os.kill(server.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(server.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
        _state_path().unlink(missing_ok=True)
    return server


def _start() -> LocalServer:
    directory = home()
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(directory / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    with _log_path().open("ab") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command, and its Ctrl-C
        )  # fmt: skip
    server = LocalServer(process.pid, port, time.time())
    state = {"pid": server.pid, "port": server.port, "started": server.started}
    _state_path().write_text(json.dumps(state))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _healthy(server):
        if process.poll() is not None or time.monotonic() > deadline:
            _state_path().unlink(missing_ok=True)
            raise ConfigError(
                f"the local Prefect server did not start (see {_log_path()}): set "
                "PREFECT_API_URL to a running server, or ELT_LOCAL_SERVER=0 for a temporary one"
            )
        time.sleep(0.3)
    return server


def _healthy(server: LocalServer) -> bool:
    try:
        return httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _state_path() -> Path:
    return home() / "prefect-server.json"


def _log_path() -> Path:
    return home() / "prefect-server.log"


@contextmanager
def _locked() -> Iterator[None]:
    """One command at a time decides whether to start the server (two at once start one)."""
    home().mkdir(parents=True, exist_ok=True)
    with (home() / "prefect-server.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
