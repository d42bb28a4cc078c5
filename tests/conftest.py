"""Shared fixtures: a Prefect API for the session, an isolated environment per test, and one
real embedded pipeline run whose DuckDB warehouse later tests copy."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest

from orchestration.runtime import process_defaults

# As `elt` starts: the settings our processes run with, before anything imports Prefect, for
# the flows the tests run in this process and the processes they start.
process_defaults.apply_to_environment()

from orchestration.config import setting_variables  # noqa: E402  (imports Prefect)

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
# The source-faker connector is installed once here and reused by every test run.
CONNECTOR_CACHE = REPO / ".elt"
FAKER_COUNT = 100
FAKER_SEED = 42

# Under pytest-xdist each worker process has dbt write its own target/ and logs/ (dbt's own
# variables, relative to each project), so parallel runs of one project never mix manifests.
# `make test-fast`: the tests of plain logic, in-process, under a minute. The tier starts no
# Prefect server, installs nothing and opens no browser: a test that asks for a server, the
# pipeline's run or a browser is refused at collection, and the Prefect API is an address that
# refuses connections, so a test that would start Prefect's temporary server fails instead.
FAST_TIER = os.environ.get("ELT_TEST_TIER") == "fast"
NOT_IN_THE_FAST_TIER = {"prefect_api", "prefect_server", "postgres", "pipeline_run", "browser"}
if FAST_TIER:
    os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER:
    os.environ["DBT_TARGET_PATH"] = f"target/{XDIST_WORKER}"
    os.environ["DBT_LOG_PATH"] = str(REPO / "dbt_project" / "logs" / XDIST_WORKER)


def dbt_target(project: Path) -> Path:
    """The target/ folder dbt writes for `project` in this test process."""
    return project / os.environ.get("DBT_TARGET_PATH", "target")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Once, before any test (in the xdist controller, or the only process): the dbt packages
    and the embedded connector, which parallel tests would otherwise race to install into the
    same folders, and for the slow tests the Dagster environment `make parity` runs in (the
    parity pieces' smoke runs). Nothing to do when they are there."""
    from orchestration.dbt.deps import deps_needed

    if hasattr(session.config, "workerinput") or FAST_TIER:
        return
    if "not slow" not in (session.config.getoption("markexpr") or ""):
        dagster = subprocess.run(
            ["make", "--no-print-directory", "parity/.venv/.synced"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert dagster.returncode == 0, (
            f"the Dagster environment:\n{dagster.stdout}{dagster.stderr}"
        )
    connector = CONNECTOR_CACHE / "airbyte" / ".venv-source-faker" / "bin" / "source-faker"
    embedded = not connector.exists()
    if not embedded and not deps_needed(REPO / "dbt_project"):
        return
    env = cli_env(
        ELT_HOME=str(CONNECTOR_CACHE),
        DBT_PROJECT_DIR=str(REPO / "dbt_project"),
        DUCKDB_PATH=str(CONNECTOR_CACHE / "prepare.duckdb"),
    )
    command = ["prepare", "--embedded"] if embedded else ["prepare"]
    proc = elt_process(*command, env=env, timeout=1200)
    assert proc.returncode == 0, f"elt {' '.join(command)}:\n{proc.stdout}\n{proc.stderr}"


os.environ.setdefault("DO_NOT_TRACK", "1")

# Every variable a setting is read from, as the configuration models declare them: a
# developer's exported values never reach a test, in-process or in a subprocess.
SETTING_VARIABLES = setting_variables()
for _name in SETTING_VARIABLES:
    os.environ.pop(_name, None)
# `elt` commands use Prefect's temporary server (or the one a test gives them), never start
# the shared local one: tests/integration/test_local_server.py turns it on for itself.
os.environ["ELT_LOCAL_SERVER"] = "0"
# Credentials a test's moto fixture sets that `elt` subprocesses must still receive.
AWS_PASS_THROUGH = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
}


def base_env(workdir: Path) -> dict[str, str]:
    return {
        "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "ELT_HOME": str(CONNECTOR_CACHE),
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
        "FAKER_COUNT": str(FAKER_COUNT),
        "FAKER_SEED": str(FAKER_SEED),
        "ELT_LOCAL_SERVER": "0",
    }


def apply_env(mp: pytest.MonkeyPatch, workdir: Path, **extra: str) -> None:
    for name in SETTING_VARIABLES:
        mp.delenv(name, raising=False)
    mp.chdir(workdir)  # no developer .env is read
    for key, value in {**base_env(workdir), **extra}.items():
        mp.setenv(key, value)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the pipeline's warehouse needs a whole run on the embedded Airbyte connector
    (`pipeline_run`): it is slow (see the marker in pyproject.toml). Slow tests run first."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "pipeline_run" in fixtures:
            item.add_marker(pytest.mark.slow)
        if FAST_TIER and fixtures & NOT_IN_THE_FAST_TIER:
            raise pytest.UsageError(
                f"{item.nodeid} needs {', '.join(sorted(fixtures & NOT_IN_THE_FAST_TIER))}:"
                " the fast tier starts no server; move it to tests/integration"
            )
    # The slow ones first (a stable sort): started last, a two-minute journey would leave the
    # other worker idle at the end of the run.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# `ELT_TEST_TIMELINE=FILE`: each test process appends a line per test (worker, test, start,
# end, CPU seconds) to FILE; `scripts/test_timeline.py FILE` says where a run's time went.
TIMELINE = os.environ.get("ELT_TEST_TIMELINE")


def cpu_seconds() -> float:
    """CPU time of this process and of every process it started that has ended (a process's
    own children are counted once it reaps them)."""
    import resource

    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))  # fmt: skip
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not TIMELINE:
        yield
        return
    started, cpu = time.time(), cpu_seconds()
    yield
    line = {"worker": XDIST_WORKER or "main", "test": item.nodeid, "start": started,
            "end": time.time(), "cpu": round(cpu_seconds() - cpu, 2)}  # fmt: skip
    with open(TIMELINE, "a", encoding="utf-8") as timeline:  # one short append: atomic
        timeline.write(json.dumps(line) + "\n")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """This test process's PostgreSQL cluster: the test Prefect servers' databases."""
    from tests.servers import postgres_cluster

    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[str]:
    """A real `prefect server start` (own home, a PostgreSQL database) for the whole session,
    which this process's flows talk to; its log is checked after every test."""
    from tests.servers import api_for_this_process, fresh_database

    home = tmp_path_factory.mktemp("prefect-api")
    with api_for_this_process(home, cli_env(), fresh_database(postgres)) as api:
        yield api


@pytest.fixture(autouse=True)
def _no_server_failures() -> Iterator[None]:
    """A traceback or an ERROR line in the log of any Prefect server the tests started, written
    during a test, fails that test with the lines."""
    from tests.servers import SERVER_LOGS

    for log in SERVER_LOGS:
        log.problems()  # what happened before this test is not its doing
    yield
    found = [(log.path, line) for log in SERVER_LOGS for line in log.problems()]
    if found:
        distinct = dict.fromkeys(
            f"{path}: {line.partition(' | ')[2] or line}" for path, line in found
        )
        pytest.fail(
            f"a Prefect server logged {len(found)} failures during this test, e.g.:\n"
            + "\n".join(list(distinct)[:6]),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _no_stop_left() -> Iterator[None]:
    """A test whose in-process code was told to stop (a KeyboardInterrupt it raised on
    purpose) leaves no stop to the tests after it: every later run would end Cancelled."""
    from orchestration.runtime import interrupts

    yield
    interrupts.forget_stop()


@pytest.fixture(autouse=True)
def _no_openlineage_variables_left() -> Iterator[None]:
    """The OpenLineage client turns `OPENLINEAGE_URL` into `OPENLINEAGE__TRANSPORT__...`
    variables of the process it runs in; a test that set the URL (and had it removed) must not
    leave them to the tests after it, nor to the `elt` processes they start."""
    before = {k for k in os.environ if k.startswith("OPENLINEAGE")}
    yield
    for name in [k for k in os.environ if k.startswith("OPENLINEAGE") and k not in before]:
        del os.environ[name]


@pytest.fixture
def fake() -> Iterator[Any]:
    """A fake Airbyte server on loopback that speaks the public API (checked against the
    official models); its requests are asserted on."""
    from tests.fakes.airbyte_server import FakeAirbyte

    with FakeAirbyte() as server:
        yield server


@pytest.fixture
def elt_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated working directory and settings; returns the working directory."""
    apply_env(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def pipeline_run(prefect_api: str, tmp_path_factory: pytest.TempPathFactory):
    """One real `full_pipeline` run on the embedded defaults: (final state, warehouse path)."""
    from orchestration.flows.full_pipeline import full_pipeline

    workdir = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as mp:
        apply_env(mp, workdir)
        state = full_pipeline(return_state=True)
    return state, workdir / "warehouse.duckdb"


@pytest.fixture
def warehouse(pipeline_run, elt_env: Path) -> Path:
    """A private copy of the pipeline's warehouse (raw tables and marts) for one test."""
    _, source = pipeline_run
    target = elt_env / "warehouse.duckdb"
    shutil.copyfile(source, target)
    return target


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def scalar(path: Path, sql: str) -> object:
    return query(path, sql)[0][0]


def flow_run_artifacts(flow_run_id, key: str) -> list[dict]:
    """Artifacts with `key` published during a flow run, read back from the Prefect API."""
    from prefect.client.orchestration import get_client

    body = {
        # no flow_runs/task_runs filters: those join and drop flow-level artifacts
        "artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}, "key": {"any_": [key]}},
        "limit": 50,
        "offset": 0,
        "sort": "CREATED_DESC",
    }
    with get_client(sync_client=True) as client:
        return client.request("POST", "/artifacts/filter", json=body).json()


def run_result_statuses(run_results: Path) -> set[str]:
    """The node statuses in dbt's run_results.json (empty while dbt writes it). Read, not
    grepped: the file's args always hold the word "error" (`warn_error_options`)."""
    try:
        return {r["status"] for r in json.loads(run_results.read_text())["results"]}
    except (OSError, ValueError):
        return set()


def read_events(name: str, since: str) -> list[dict]:
    """Events called `name` that the Prefect server persisted since an ISO timestamp."""
    from prefect.client.orchestration import get_client

    body = {"filter": {"event": {"name": [name]}, "occurred": {"since": since}}, "limit": 50}
    with get_client(sync_client=True) as client:
        return client.request("POST", "/events/filter", json=body).json()["events"]


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = 240, interval: float = 0.5
) -> T:
    """Wait for `condition()` to be true, asking every `interval` seconds, at most `timeout`
    seconds; its (true) value, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting until {what}"
        time.sleep(interval)
    return value


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`elt ARGS` in this process (typer's runner) in `cwd`, with exactly the settings in `env`
    (none of the developer's): its exit code, stdout and stderr as a terminal shows them."""

    def invoke(*args: str, cwd, **env: str) -> Ran:
        for name in set(SETTING_VARIABLES) - AWS_PASS_THROUGH:  # as cli_env: moto's pass
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ELT_LOCAL_SERVER", "0")
        monkeypatch.chdir(cwd)  # no developer .env is read
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from typer.testing import CliRunner

        from orchestration.cli.main import app

        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    return invoke


def stop_worker(worker: subprocess.Popen, grace: float = 60) -> None:
    """Stop a `prefect worker start` process a test started: SIGTERM, then SIGKILL after
    `grace` seconds. Under a loaded server a Prefect worker can take longer than that to drain
    on SIGTERM (seen in full runs, never alone); the journeys' assertions are made before."""
    worker.terminate()
    try:
        worker.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=30)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for an `elt` subprocess: this one minus any setting, plus `extra`."""
    # the tests' own choice of server (ELT_LOCAL_SERVER=0, the session's API) passes through
    stripped = set(SETTING_VARIABLES) - AWS_PASS_THROUGH - {"ELT_LOCAL_SERVER"}
    env = {k: v for k, v in os.environ.items() if k not in stripped}
    return {**env, "COLUMNS": "200", **extra}


def elt_process(
    *args: str, env: Mapping[str, str], cwd: Path = REPO, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `elt ARGS` as a user would, with exactly `env`: a new process, its exit code and
    output."""
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env),
        timeout=timeout,
    )


@dataclass(frozen=True)
class Timed:
    """A process's output as a terminal shows it (stdout and stderr interleaved), each line
    with the seconds since the process started."""

    returncode: int
    lines: list[tuple[float, str]]
    ended: float

    @property
    def output(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def longest_silence(self) -> tuple[float, str]:
        """The longest time the user saw nothing new, and the line that ended it."""
        times = [0.0, *(at for at, _ in self.lines), self.ended]
        texts = [*(text for _, text in self.lines), "(the process exited)"]
        return max((b - a, text) for a, b, text in zip(times[:-1], times[1:], texts, strict=True))

    def transcript(self) -> str:
        return "\n".join(f"{at:6.1f}s {text}" for at, text in self.lines)


def timed_run(cmd: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 600) -> Timed:
    """Run `cmd` and timestamp each line it prints as it comes; killed past `timeout`."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines = [(time.monotonic() - started, line.rstrip("\n")) for line in proc.stdout]
        returncode = proc.wait()
    finally:
        watchdog.cancel()
    return Timed(returncode, lines, time.monotonic() - started)


class Running:
    """`elt ARGS` running in its own process with exactly `env`, its stderr read as it comes
    (a long-running command: `elt serve`, a sensor)."""

    def __init__(self, *args: str, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", *args],
            cwd=REPO,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for_line(self, start: str, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.stderr)
                continue
            self.stderr.append(line)
            if line.startswith(start):
                return
        raise AssertionError(f"no {start!r} line within {seconds} s: {''.join(self.stderr)}")

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, within: float = 60
    ) -> tuple[int, float, str]:
        """Signal it; its exit code, the seconds it took to exit, and its whole stderr."""
        signalled = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"elt did not exit within {within} s of {sig.name}") from None
        took = time.monotonic() - signalled
        while not self.lines.empty():
            self.stderr.append(self.lines.get())
        return code, took, "".join(self.stderr)


def suggested_fix(message: str) -> list[str]:
    """The arguments of the first `elt ...` command a message suggests (what a user would type
    after reading it): a test runs exactly what the project printed."""
    import re
    import shlex

    found = re.search(r"`elt ([^`]+)`", message)
    assert found, f"no `elt ...` command in {message!r}"
    return shlex.split(found.group(1))


def run_elt(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`elt ARGS` in `cwd`, with this environment minus any setting, plus `env`."""
    return elt_process(*args, env=cli_env(**env), cwd=cwd)
