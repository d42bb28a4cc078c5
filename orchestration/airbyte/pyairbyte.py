"""The embedded Airbyte: PyAirbyte + the real source-faker connector, writing Airbyte's raw
layout into the DuckDB warehouse.

PyAirbyte lives in its own environment (`embedded/`, with its own lock) so its pins never reach
the production environment; this module builds that environment with uv on first use and runs
the connector there as a subprocess that reports progress as JSON lines.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.airbyte.sync_results import SyncResult
from orchestration.errors import ConfigError, StepFailed
from orchestration.runtime.logs import get_logger
from orchestration.runtime.ticker import Ticker

CONNECTION_NAME = "embedded:source-faker"
# what faker_sync.py is doing after each of its events, said while it is quiet
PHASES = {
    "loading": "loading PyAirbyte and the source-faker connector",
    "discovering": "asking source-faker for its streams",
}


@dataclass(frozen=True)
class FakerSync:
    """One sync of source-faker into a DuckDB file: what to run and where it writes."""

    project_dir: Path  # the embedded/ uv project (already checked to exist)
    duckdb_path: Path
    schema: str
    streams: list[str]
    count: int
    seed: int | None
    home: Path  # connector cache and state
    always_updated: bool = False  # source-faker's: re-emit every record on every sync


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise ConfigError(
                "the embedded Airbyte needs uv to build its environment: `pip install uv`, "
                "or set AIRBYTE_SERVER_URL to use an Airbyte server"
            ) from None
        return found


def embedded_python(project_dir: Path) -> Path:
    return project_dir / ".venv" / "bin" / "python"


def ensure_environment(project_dir: Path) -> Path:
    """Build (once) the isolated PyAirbyte environment; later calls only check it is in sync."""
    python = embedded_python(project_dir)
    log = get_logger()
    if not python.exists():
        log.info("Building the embedded Airbyte environment (PyAirbyte), first run only...")
    cmd = [uv_binary(), "sync", "--frozen", "--quiet", "--project", str(project_dir)]
    for line in _stream(cmd, env=_uv_env(), phase="building the PyAirbyte environment"):
        log.debug(line)
    return python


def run_embedded_sync(sync: FakerSync) -> SyncResult:
    """Sync source-faker's streams into `<DUCKDB_PATH>` schema `AIRBYTE_RAW_SCHEMA`."""
    log = get_logger()
    python = ensure_environment(sync.project_dir)
    home = sync.home.resolve()
    airbyte_dir = home / "airbyte"
    airbyte_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(python),
        str(sync.project_dir.resolve() / "faker_sync.py"),
        "--duckdb",
        str(sync.duckdb_path.resolve()),
        "--schema",
        sync.schema,
        "--streams",
        ",".join(sync.streams),
        "--count",
        str(sync.count),
    ]
    if sync.seed is not None:
        cmd += ["--seed", str(sync.seed)]
    if sync.always_updated:
        cmd.append("--always-updated")
    env = {
        **_uv_env(),
        "AIRBYTE_OFFLINE_MODE": "1",  # no connector registry: install from the package index
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(airbyte_dir),
        "AIRBYTE_LOGGING_ROOT": str(airbyte_dir / "logs"),
        "PYTHONWARNINGS": "ignore",
    }
    started = datetime.now(UTC)
    outcome: dict[str, Any] | None = None
    phase = {"now": "starting the connector"}  # read by the heartbeat while the sync runs
    for line in _stream(cmd, env=env, phase=lambda: phase["now"], json_events=True):
        event = json.loads(line)
        name = event["event"]
        if name in PHASES:
            phase["now"] = PHASES[name]
        elif name == "installing_connector":
            phase["now"] = "installing the source-faker connector"
            log.info(
                "Installing the source-faker connector from the package index (first run only)..."
            )
        elif name == "reading":
            phase["now"] = "reading source-faker"
            log.info(
                "Syncing source-faker (%s records per stream) into %s.%s ...",
                event["count"],
                sync.duckdb_path,
                sync.schema,
            )
        elif name == "result":
            outcome = event
    if outcome is None:
        raise StepFailed("the embedded Airbyte sync ended without reporting a result")
    streams = {str(k): int(v) for k, v in dict(outcome["streams"]).items()}
    stream_bytes = {str(k): int(v) for k, v in dict(outcome.get("stream_bytes") or {}).items()}
    result = SyncResult(
        connection_id=CONNECTION_NAME,
        status="succeeded",
        rows_synced=sum(streams.values()),
        bytes_synced=int(outcome.get("bytes", 0)),
        started_at=started,
        ended_at=datetime.now(UTC),
        streams=streams,
        stream_bytes=stream_bytes,
        backend="embedded",
    )
    log.info(
        "Embedded sync done: %s rows (%s) in %.1fs",
        result.rows_synced,
        ", ".join(f"{k}={v}" for k, v in streams.items()),
        result.duration_seconds or 0,
    )
    return result


def _uv_env() -> dict[str, str]:
    """The child gets our environment minus our virtualenv, so uv and PyAirbyte see their own;
    the uv we use goes first on PATH, because PyAirbyte installs connectors by running `uv`
    (this virtualenv's bin/ is not on PATH when `.venv/bin/elt` runs without activation)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env["PATH"] = os.pathsep.join([str(Path(uv_binary()).parent), env.get("PATH", "")])
    env["UV_NO_PROGRESS"] = "1"
    return env


def _stream(
    cmd: list[str],
    *,
    env: dict[str, str],
    phase: str | Callable[[], str],
    json_events: bool = False,
) -> Iterator[str]:
    """Run `cmd`, yield its stdout lines, say which `phase` it is in while the user sees
    nothing, fail with its tail. A line yielded is not shown: the caller logs what it shows.

    With `json_events`, only lines that parse as JSON objects are yielded; other stdout and all
    stderr go to the debug log and, on failure, into the error message.
    """
    log = get_logger()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        bufsize=1,
    )
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    stderr_tail: list[str] = []

    def pump(stream_name: str, stream: object) -> None:
        for raw in stream:  # type: ignore[attr-defined]
            lines.put((stream_name, raw.rstrip("\n")))
        lines.put((stream_name, None))

    threads = [
        threading.Thread(target=pump, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=pump, args=("err", proc.stderr), daemon=True),
    ]
    for t in threads:
        t.start()
    open_streams = 2

    def describe(seconds: float) -> str:
        return f"... still {phase() if callable(phase) else phase} ({seconds:.0f}s)"

    try:
        # the first run installs the connector here, within the first `make run`: a line
        # every few seconds however long it takes (CI's fresh clone checks it)
        with Ticker(describe, log.info, slows_down=False):
            while open_streams:
                name, line = lines.get()
                if line is None:
                    open_streams -= 1
                elif name == "out" and (not json_events or line.startswith("{")):
                    # Not `said()`: a line read is not a line shown (a phase's event is not);
                    # what the caller logs of it, the terminal's listener notes.
                    yield line
                elif line.strip():
                    stderr_tail = [*stderr_tail[-19:], line]
                    log.debug(line)
            code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        detail = " | ".join(line.strip() for line in stderr_tail[-5:])
        raise StepFailed(f"`{Path(cmd[0]).name} {Path(cmd[1]).name}` exited with {code}: {detail}")


__all__ = ["CONNECTION_NAME", "ensure_environment", "run_embedded_sync"]
