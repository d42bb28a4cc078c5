"""A command whose Prefect server is lost ends in seconds, in one line, and never goes on with
another server.

Left to Prefect, a command whose server died retries each request for minutes (its client's
retries, the events worker reconnecting, the log handler), prints a traceback per failed
record, and ends on an error about the last request. Worse, when another server starts on the
freed port (another checkout's local server), the rest of the command's requests, logs and
events go to *that* server.

So while a command runs flows (`watching_prefect_server`), a thread watches its server:

- the local server (this checkout's, `orchestration.server.local_server`): its process, by pid and
  start time, every half second. Gone, the command ends at once, before any other server can
  have started on its port (a Prefect server takes seconds to start);
- any server: `GET /health` every `CHECK_EVERY_SECONDS`. When none has answered for
  ELT_SERVER_LOST_SECONDS (30 s by default: a frozen or unreachable server), the command
  ends; from the fifth second of silence it says it is waiting.

Ending is a crash on purpose: one line on stderr naming the server, what the command finished
(`orchestration.runtime.milestones`) and how to resume; the processes it started (the embedded
connector) are killed and it exits (status 1) without cleanup, since cleanup needs the
server. Everything the project does survives a crash by design: the next command marks the
runs Crashed (`orchestration.server.lost_runs`), a rerun attaches to the Airbyte job still
running, a backfill's retry resumes it from its journal.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from orchestration.runtime import milestones

if TYPE_CHECKING:
    from orchestration.server.local_server import LocalServer

__all__ = ["CHECK_EVERY_SECONDS", "watching_prefect_server"]

CHECK_EVERY_SECONDS = 2.0
SAY_AFTER_SECONDS = 5.0
EXIT_CODE = 1


@contextlib.contextmanager
def watching_prefect_server(say: Callable[[str], None]) -> Iterator[None]:
    """Watch this process's Prefect server from a thread while inside."""
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    if not api_url:  # Prefect's temporary server, which lives in this process
        yield
        return
    from orchestration.config.local_settings import local_settings
    from orchestration.server.local_server import is_local_api, recorded

    local = recorded() if is_local_api() else None
    resume = f"elt {shlex.join(sys.argv[1:])}".strip()
    lost_after = local_settings().elt_server_lost_seconds  # README, "Faults"
    watcher = _Watcher(api_url, local, say, resume, lost_after)
    thread = threading.Thread(target=watcher.run, name="prefect-server-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        watcher.done.set()


class _Watcher:
    def __init__(
        self,
        api_url: str,
        local: LocalServer | None,
        say: Callable[[str], None],
        resume: str,
        lost_after: float,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.lost_after = lost_after
        self.local = local
        self.say = say
        self.resume = resume
        self.done = threading.Event()

    def run(self) -> None:
        from orchestration.server.local_server import process_alive

        answered = time.monotonic()
        said = 0.0
        next_check = 0.0
        with httpx.Client(timeout=CHECK_EVERY_SECONDS, trust_env=False) as client:
            while not self.done.is_set():
                local = self.local
                if local is not None and not process_alive(local.pid, local.identity):
                    self.end("stopped (its process ended)", restart=True)
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + CHECK_EVERY_SECONDS
                    if self.answers(client):
                        answered, said = time.monotonic(), 0.0
                    silent = time.monotonic() - answered
                    if silent >= self.lost_after:
                        self.end(f"stopped answering {silent:.0f} s ago", restart=False)
                    if silent >= SAY_AFTER_SECONDS and silent - said >= SAY_AFTER_SECONDS:
                        said = silent
                        self.say(
                            f"... the Prefect server at {self.server_url} has not answered for"
                            f" {silent:.0f} s (this command ends at {self.lost_after:.0f} s)"
                        )
                self.done.wait(0.5)

    @property
    def server_url(self) -> str:
        return self.api_url.removesuffix("/api")

    def answers(self, client: httpx.Client) -> bool:
        try:
            return client.get(f"{self.api_url}/health").status_code < 500
        except httpx.HTTPError:
            return False

    def end(self, why: str, *, restart: bool) -> None:
        if self.local is not None:
            how = (
                f"run `{milestones.resume_hint(self.resume)}` again (it starts the local server"
                " again)"
                if restart
                else f"`elt server stop`, then `{milestones.resume_hint(self.resume)}` again"
            )
        else:
            how = f"run `{milestones.resume_hint(self.resume)}` again once it answers"
        text = (
            f"error: the Prefect server at {self.server_url} {why}: {milestones.summary()}; {how}"
        )
        try:
            sys.stderr.flush()
            terminal = os.dup(2)
            quiet = os.open(os.devnull, os.O_WRONLY)  # the line is the last thing said: no
            os.dup2(quiet, 1)  # thread (a progress ticker, Prefect's services) prints after it
            os.dup2(quiet, 2)
            os.write(terminal, (text + "\n").encode())
            stop_descendants()
        finally:
            os._exit(EXIT_CODE)


def stop_descendants() -> None:
    """SIGKILL every process this one started, and theirs (the embedded connector): they
    would outlive an exit that runs no cleanup."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
