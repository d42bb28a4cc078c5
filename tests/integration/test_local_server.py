"""Without PREFECT_API_URL, the first `elt` command starts a local Prefect server, says where
and how to stop it, and the next commands reuse it, whatever their working folder; its UI knows
its own API; a hung server is reported, never doubled; `elt server stop` signals only the
process it started."""

from __future__ import annotations

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
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from bench.microbatch_project import generate_raw, microbatch_project
from orchestration.server.local_server import SQLITE_CONTENTION
from tests.conftest import (
    CONNECTOR_CACHE,
    REPO,
    Running,
    Timed,
    cli_env,
    run_elt,
    suggested_fix,
    timed_run,
    wait_until,
)
from tests.servers import ServerLog, prefect_server

NEEDS_PREFECT_API = False  # the command under test starts its own
# One test process runs them all: they compete for the ports from 4200 up. Slow: each starts
# and stops local servers, runs whole pipelines, a browser.
pytestmark = [pytest.mark.xdist_group("local-server"), pytest.mark.slow]


@pytest.fixture
def local_home(monkeypatch) -> Iterator[Path]:
    """An ELT_HOME of its own; the server it holds is stopped at the end, whatever happened,
    and a traceback or ERROR line in its log fails the test."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # as on a fresh machine
    home = REPO / ".elt" / f"test-{uuid.uuid4().hex[:8]}"
    try:
        yield home
    finally:
        state = home / "prefect-server.json"
        pid = json.loads(state.read_text()).get("pid") if state.exists() else None
        if pid and process_exists(pid):
            os.killpg(pid, signal.SIGCONT)
            os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30  # gone, its port free, before the next test
            while process_exists(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        # A port taken between elt's check and the server's bind: that server exits and elt
        # starts the next one on the next port (by design), leaving these three lines.
        retried = [
            re.compile(p)
            for p in (
                r"error while attempting to bind on address .* address already in use",
                r"Reactive triggers not started",
                r"Application shutdown failed",
                # a server frozen mid-request, then stopped (the hung-server test), exits with
                # its SQLite connections still checked out: SQLAlchemy says so as it goes
                r"greenlet is being finalized",
                r"non-checked-in connection",
            )
        ]
        retried.append(SQLITE_CONTENTION)  # the local server is SQLite: a 503, retried
        problems = ServerLog(home / "prefect-server.log", ignored=retried).problems()
        shutil.rmtree(home, ignore_errors=True)
    assert not problems, f"the local Prefect server logged failures: {problems}"


def elt(*args: str, home: Path, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return run_elt(*args, cwd=cwd, ELT_LOCAL_SERVER="1", ELT_HOME=str(home), **env)


def make_run(home: Path, workdir: Path) -> Timed:
    """The README's `make run`, timestamped line by line, in its own ELT_HOME and warehouse."""
    settings = {
        "ELT_LOCAL_SERVER": "1",
        "ELT_HOME": str(home),
        "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "DBT_TARGET_PATH": str(workdir / "dbt-target"),  # dbt's own: its own partial parse
        "FAKER_COUNT": "100",
    }
    return timed_run(["make", "run"], cwd=REPO, env=cli_env(**settings))


def test_make_run_cold_then_warm_never_silent_and_its_run_in_the_ui(tmp_path, local_home, browser):
    """The first `make run` of a checkout (no local server yet, dbt never parsed) and the next
    one each print a line at least every 5 s, and the run they print a link to is in the UI.
    (The connector the session installed is reused: its install is the same wait, said the
    same way.)"""
    local_home.mkdir(parents=True)
    (local_home / "airbyte").symlink_to(CONNECTOR_CACHE / "airbyte")

    first = make_run(local_home, tmp_path)
    assert first.returncode == 0, first.transcript()
    silence, before = first.longest_silence()
    assert silence <= 5, f"{silence:.1f}s without a line before {before!r}:\n{first.transcript()}"
    assert "started a local Prefect server at http://127.0.0.1:" in first.output
    assert "stop it with `elt server stop`" in first.output
    state = json.loads((local_home / "prefect-server.json").read_text())
    ui = f"http://127.0.0.1:{state['port']}"
    runs = httpx.post(f"{ui}/api/flow_runs/filter", json={}).json()
    (pipeline,) = [r for r in runs if r["parent_task_run_id"] is None]
    view_at = f"View at {ui}/runs/flow-run/{pipeline['id']}"
    assert view_at in first.output  # the link the run printed...

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{ui}/runs/flow-run/{pipeline['id']}")  # ...opens its run page
    page.get_by_text(pipeline["name"]).first.wait_for(timeout=60_000)
    page.get_by_text("Artifacts", exact=True).first.click(timeout=60_000)
    page.get_by_text("full-pipeline-summary").first.wait_for(timeout=60_000)
    page.goto(f"{ui}/runs")  # and the run is listed
    page.get_by_text(pipeline["name"]).first.wait_for(timeout=60_000)
    assert "Can't connect to Server API" not in page.content()
    page.close()

    second = make_run(local_home, tmp_path)
    assert second.returncode == 0, second.transcript()
    silence, before = second.longest_silence()
    assert silence <= 5, f"{silence:.1f}s without a line before {before!r}:\n{second.transcript()}"
    assert "started a local Prefect server" not in second.output  # reused
    # the embedded sync is incremental: nothing new, nothing synced, every model reused
    assert "synced 0 rows from embedded:source-faker" in second.output, second.transcript()
    assert "dbt build: nothing changed" in second.output, second.transcript()
    assert "7 reused, unchanged since their last build" in second.output
    runs = httpx.post(f"{ui}/api/flow_runs/filter", json={}).json()
    top = [r["state"]["type"] for r in runs if r["parent_task_run_id"] is None]
    assert top == ["COMPLETED", "COMPLETED"]  # both pipelines, one server

    status = elt("server", "status", home=local_home, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == f"local Prefect server at {ui} (pid {state['pid']})"
    stopped = elt("server", "stop", home=local_home, cwd=tmp_path)
    assert stopped.stdout.strip() == (
        f"stopped the local Prefect server at {ui} (pid {state['pid']})"
    )
    assert elt("server", "status", home=local_home, cwd=tmp_path).returncode == 1
    assert not process_exists(state["pid"])


def test_one_server_whatever_the_folder_on_a_kept_port_with_a_ui_that_knows_its_api(local_home):
    relative_home = local_home.relative_to(REPO)  # ELT_HOME as .env writes it: relative
    held = socket.socket()  # the port the server would prefer is taken: it takes the next
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", first_free_port(4200)))
    held.listen()
    try:  # another test's server may take the next port first: past the held one is the claim
        started = elt("ui", home=relative_home, cwd=REPO)
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        port = int(url.rsplit(":", 1)[1])
        assert port > held.getsockname()[1]
    finally:
        held.close()
    from_dbt_folder = elt("ui", home=relative_home, cwd=REPO / "dbt_project")
    assert from_dbt_folder.returncode == 0, from_dbt_folder.stderr
    assert from_dbt_folder.stdout.strip() == url
    assert "started" not in from_dbt_folder.stderr  # the same server, not a second one
    settings = httpx.get(f"{url}/ui-settings").json()
    assert settings["api_url"] == f"{url}/api"  # the UI calls its own server's API

    stopped = elt("server", "stop", home=relative_home)
    assert stopped.stdout.startswith(f"stopped the local Prefect server at {url} "), stopped
    log = local_home / "prefect-server.log"
    offset = log.stat().st_size
    restarted = elt("ui", home=relative_home, cwd=REPO / "dbt_project")
    listeners = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    old_pid = stopped.stdout.rsplit("(pid ", 1)[1].split(")")[0]
    old = subprocess.run(  # the old server, and every prefect process with its group
        ["ps", "-eo", "pid,ppid,pgid,sid,stat,etime,cmd"], capture_output=True, text=True
    ).stdout
    old = "\n".join(
        x for x in old.splitlines() if "prefect" in x or x.lstrip().startswith(("PID", old_pid))
    )
    with log.open("rb") as since_the_stop:
        since_the_stop.seek(offset)
        logged = since_the_stop.read().decode("utf-8", "replace")[-8000:]
    assert restarted.stdout.strip() == url, (
        f"{old}\n{listeners}\n{restarted.stderr}\n--- the log since the stop:\n{logged}"
    )


def test_a_hung_server_is_reported_and_stopped_never_doubled(local_home):
    started = elt("ui", home=local_home)
    assert started.returncode == 0, started.stderr
    state = json.loads((local_home / "prefect-server.json").read_text())
    pid = state["pid"]
    os.killpg(pid, signal.SIGSTOP)
    try:  # nothing answers at its address now (else the check below would prove nothing)
        answered = httpx.get(f"http://127.0.0.1:{state['port']}/api/health", timeout=3)
        listeners = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        pytest.fail(f"port {state['port']} still answers ({answered}): {listeners}")
    except httpx.HTTPError:
        pass

    hung = elt("ui", home=local_home)
    assert hung.returncode == 1
    assert hung.stderr.startswith(f"error: the local Prefect server (pid {pid}, ")
    assert "does not answer" in hung.stderr and "`elt server stop`" in hung.stderr
    assert json.loads((local_home / "prefect-server.json").read_text())["pid"] == pid

    stopped = elt(*suggested_fix(hung.stderr), home=local_home)  # the fix it printed
    assert stopped.returncode == 0, stopped.stderr
    assert f"(pid {pid})" in stopped.stdout
    assert not process_exists(pid)


def test_elt_serve_exits_within_its_deadline_when_the_prefect_api_hangs(local_home):
    """Stopping `elt serve` pauses its schedules on the Prefect API; when that API no longer
    answers, the process still ends within `--stop-within`, saying so."""
    env = cli_env(ELT_LOCAL_SERVER="1", ELT_HOME=str(local_home), ELT_SERVE_STOP_SECONDS="5")
    served = Running("serve", "--only", "dbt-transform", env=env)
    served.wait_for_line("serving ")
    pid = json.loads((local_home / "prefect-server.json").read_text())["pid"]
    os.killpg(pid, signal.SIGSTOP)
    try:
        code, took, stderr = served.stop(signal.SIGTERM, within=60)
    finally:
        os.killpg(pid, signal.SIGCONT)
    assert code == 128 + signal.SIGTERM, stderr
    assert stderr.rstrip().endswith(
        "error: elt serve did not stop within 5 s of SIGTERM: exiting now"
    ), stderr
    assert took >= 5


def test_stop_never_signals_a_process_that_reused_the_recorded_pid(local_home):
    stranger = subprocess.Popen(["sleep", "600"])
    try:
        local_home.mkdir(parents=True)
        state = {"pid": stranger.pid, "port": 4299, "started": time.time(), "identity": "1"}
        (local_home / "prefect-server.json").write_text(json.dumps(state))

        stopped = elt("server", "stop", home=local_home)
        assert stopped.stdout.strip() == "no local Prefect server was running"
        assert stranger.poll() is None  # still running: it was never signalled
        assert elt("server", "status", home=local_home).returncode == 1
    finally:
        stranger.kill()
        stranger.wait()


def test_an_elt_home_that_cannot_be_written_is_one_line_naming_it(tmp_path, local_home):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    proc = elt("ui", home=not_a_folder / "elt")
    assert proc.returncode == 1
    *progress, error = proc.stderr.strip().splitlines()  # on a busy machine: "still loading"
    assert all(line.startswith("... still loading") for line in progress), proc.stderr
    assert error == (
        f"error: cannot write the local Prefect server's files in {not_a_folder / 'elt'} (Not "
        "a directory): set ELT_HOME to a writable folder, or PREFECT_API_URL to a running server"
    )


def first_free_port(start: int) -> int:
    for port in range(start, start + 200):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port")


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()
    )  # a zombie has ended


def test_deploy_local_with_the_example_env_as_copied(tmp_path, local_home):
    """`cp .env.example .env && make deploy-local` on the embedded defaults: the shared local
    server, blocks, deployments, a worker; its scheduler creates the runs; `stop` ends all."""
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    (tmp_path / "dbt_project").symlink_to(REPO / "dbt_project")  # the example's relative path
    env = cli_env(  # the example's own ELT_HOME is the repository's
        ELT_HOME=str(local_home),
        # the scheduler looks every 5 s, not 60 (its loop ran at start, before any deployment)
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
    )
    del env["ELT_LOCAL_SERVER"]  # as the example sets it (the tests' environment turns it off)
    script = ["bash", str(REPO / "scripts" / "deploy-local.sh")]
    deployed = subprocess.run(
        script, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    try:
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        state = json.loads((local_home / "prefect-server.json").read_text())
        api = f"http://127.0.0.1:{state['port']}/api"
        assert f"Prefect UI:  http://127.0.0.1:{state['port']}" in deployed.stdout
        assert "created   elt-dbt-config/local" in deployed.stdout  # blocks from the .env
        assert "snowflake" not in deployed.stdout  # the example's defaults configure none
        deployments = httpx.post(f"{api}/deployments/filter", json={}).json()
        assert {d["name"] for d in deployments} >= {"daily-full-pipeline", "s3-sensor"}
        assert "Deployment 'full-pipeline/daily-full-pipeline' successfully" in deployed.stdout
        assert "worker start" not in deployed.stdout  # it starts one: no hint to start one
        worker = int((local_home / "deploy-local" / "worker.pid").read_text())
        assert process_exists(worker)
        body = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
        wait_until(
            lambda: httpx.post(f"{api}/flow_runs/filter", json=body).json(),
            "the scheduler creates a run",
            timeout=120,
            interval=1,
        )
        # The example configures no landing zone: the sensor's schedule is paused, said once,
        # and none of its runs waits to start.
        notes = [x for x in deployed.stderr.splitlines() if "s3-sensor/s3-sensor" in x]
        assert len(notes) == 1 and notes[0].startswith("note: the s3-sensor/s3-sensor schedule ")
        assert "error:" not in deployed.stderr  # optional settings left out are notes
        sensor = next(d for d in deployments if d["name"] == "s3-sensor")
        sensor = httpx.get(f"{api}/deployments/{sensor['id']}").json()
        assert [s["active"] for s in sensor["schedules"]] == [False]
        sensor_runs = {**body, "deployments": {"id": {"any_": [sensor["id"]]}}}
        assert httpx.post(f"{api}/flow_runs/filter", json=sensor_runs).json() == []
        # The worker started in the background stops on Ctrl-C's signal (bash starts it with
        # SIGINT ignored; the script gives it back).
        os.kill(worker, signal.SIGINT)
        wait_until(lambda: not process_exists(worker), "the worker ends on SIGINT", timeout=20)
    finally:
        stopped = subprocess.run(
            [*script, "stop"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped the worker" in stopped.stdout
    assert "stopped the local Prefect server" in stopped.stdout
    assert not process_exists(worker)


def start_elt(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """`elt ARGS` in the background, in a process group of its own (a connector it starts is
    killed with it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=cwd,
        env=cli_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_runs_whose_process_was_killed_end_crashed_at_the_next_command(tmp_path, local_home, s3,
                                                                      bucket):  # fmt: skip
    """`kill -9` of `elt run` (mid-sync), a backfill and a sensor: the next `elt` command marks
    each of their flow runs Crashed, saying why; none stays Running. The local server has the
    lost-run automation too, for runs nobody comes back to."""
    local_home.mkdir(parents=True)
    (local_home / "airbyte").symlink_to(CONNECTOR_CACHE / "airbyte")
    started = elt("ui", home=local_home)
    assert started.returncode == 0, started.stderr
    api = json.loads((local_home / "prefect-server.json").read_text())["port"]
    api = f"http://127.0.0.1:{api}/api"
    automations = httpx.post(f"{api}/automations/filter", json={}).json()
    assert "elt-flow-run-lost" in {a["name"] for a in automations}

    first = date.today() - timedelta(days=365)
    project = microbatch_project(tmp_path, begin=first)
    generate_raw(tmp_path / "backfill.duckdb", first, 365, 6)
    home = {"ELT_LOCAL_SERVER": "1", "ELT_HOME": str(local_home)}
    marts = {"DBT_PROJECT_DIR": str(project), "DUCKDB_PATH": str(tmp_path / "backfill.duckdb"),
             "DBT_TARGET_PATH": str(tmp_path / "backfill-target"), **home}  # fmt: skip
    staged = run_elt("transform", "-s", "staging", "-s", "dim_products", "--exclude",
                     "test_type:data", cwd=tmp_path, **marts)  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    commands = {
        "full-pipeline": (["run"], {"DUCKDB_PATH": str(tmp_path / "run.duckdb"),
                                    "FAKER_COUNT": "5000000", **home}),
        "backfill": (["backfill", "--start", str(first), "--end",
                      str(first + timedelta(days=364)), "--concurrency", "1"], marts),
        "s3-sensor": (["sensor"], {"S3_BUCKET": bucket, "S3_POLL_INTERVAL_SECONDS": "1", **home}),
    }  # fmt: skip
    processes = [start_elt(args, tmp_path, env) for args, env in commands.values()]

    def running() -> dict[str, str]:
        runs = httpx.post(f"{api}/flow_runs/filter", json={}).json()
        flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}).json()}
        return {r["id"]: flows[r["flow_id"]] for r in runs if r["state_type"] == "RUNNING"}

    try:
        wait_until(lambda: set(commands) <= set(running().values()), "the three runs running")
        wait_until(lambda: "airbyte-sync" in running().values(), "the sync running")
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)  # no handler runs, no final state is set
            process.wait()
    killed = running()
    assert len(killed) >= 4  # the pipeline, its sync, the backfill, the sensor

    after = elt("server", "status", home=local_home)
    nexts = elt("ui", home=local_home)

    assert after.returncode == 0, after.stderr
    assert f"marked {len(killed)} flow run(s) Crashed" in nexts.stderr + nexts.stdout
    for run_id in killed:
        run = httpx.get(f"{api}/flow_runs/{run_id}").json()
        assert run["state_type"] == "CRASHED", run["state"]
        assert "ended without a final state" in run["state"]["message"]
    assert running() == {}


def processes_naming(path: Path) -> list[str]:
    """The command lines of the processes still running that name `path` (its warehouse)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in text:
            found.append(text)
    return found


def pipeline_running(home: Path, workdir: Path, **extra: str) -> tuple[subprocess.Popen, str]:
    """`elt run` mid-sync (5,000,000 records a stream) on the local server of `home`, with the
    settings `extra`; the process (its stderr piped) and the server's API address."""
    (home / "airbyte").symlink_to(CONNECTOR_CACHE / "airbyte")
    env = {"ELT_LOCAL_SERVER": "1", "ELT_HOME": str(home), "FAKER_COUNT": "5000000",
           "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
           "DBT_TARGET_PATH": str(workdir / "dbt-target"), **extra}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run"], cwd=REPO, env=cli_env(**env),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    state = home / "prefect-server.json"

    def started() -> bool:
        assert process.poll() is None, process.stderr.read()
        return state.exists() and json.loads(state.read_text()).get("answered")

    wait_until(started, "the local server started", timeout=200)
    api = f"http://127.0.0.1:{json.loads(state.read_text())['port']}/api"

    def syncing() -> bool:
        runs = httpx.post(f"{api}/flow_runs/filter", json={}).json()
        return any(r["state_type"] == "RUNNING" and r["parent_task_run_id"] for r in runs)

    wait_until(syncing, "the sync running")
    return process, api


def test_a_local_server_replaced_mid_run_ends_the_run_in_one_line_and_gets_none_of_it(
    tmp_path, local_home
):
    """`kill -9` of the local server mid-sync, and another Prefect server (another checkout's)
    started on its port at once: `elt run` ends within seconds in one line saying what it did
    and how to resume, and not one of its requests reaches the other server. The next command
    on the restarted local server marks its runs Crashed."""
    local_home.mkdir(parents=True)
    process, api = pipeline_running(local_home, tmp_path)
    server_pid = json.loads((local_home / "prefect-server.json").read_text())["pid"]
    port = int(api.split(":")[2].split("/")[0])

    ended_at: list[float] = []
    os.killpg(server_pid, signal.SIGKILL)
    killed = time.monotonic()
    threading.Thread(target=lambda: (process.wait(), ended_at.append(time.monotonic()))).start()
    wait_until(lambda: first_free_port(port) == port, "the port free", timeout=30)
    with prefect_server(tmp_path / "other-checkout", cli_env(), port=port) as other:
        code = process.wait(timeout=120)
        ended = wait_until(lambda: ended_at, "its end seen")[0] - killed
        stderr = process.stderr.read()
        other_runs = httpx.post(f"{other['PREFECT_API_URL']}/flow_runs/filter", json={}).json()
        other_logs = httpx.post(f"{other['PREFECT_API_URL']}/logs/filter", json={}).json()

    assert code == 1, stderr
    assert ended < 10, f"ended {ended:.1f} s after its server was killed"
    assert stderr.splitlines()[-1] == (
        f"error: the Prefect server at http://127.0.0.1:{port} stopped (its process ended):"
        " nothing finished; not done: raw data synced, marts rebuilt, freshness checked; run"
        " `elt run` again (it starts the local server again)"
    ), stderr
    assert "Traceback" not in stderr and "| ERROR" not in stderr, stderr
    assert other_runs == [] and other_logs == []  # the other server got nothing of this run
    assert processes_naming(tmp_path) == []  # nor did the connector outlive the command

    again = elt("ui", home=local_home)  # the local server, started again on its database
    assert again.returncode == 0, again.stderr
    assert "flow run(s) Crashed: their elt process had ended" in again.stderr, again.stderr


LOST_AFTER_SECONDS = 12  # a line at 5 s and 10 s, the end at 12 s


def test_a_frozen_server_ends_the_run_at_its_deadline_saying_so_as_it_waits(tmp_path, local_home):
    """SIGSTOP of the local server mid-sync: `elt run` says every 5 s that the server does not
    answer, then ends in one line at ELT_SERVER_LOST_SECONDS, naming how to resume (the
    shipped 30 s: tests/unit/test_config.py)."""
    local_home.mkdir(parents=True)
    process, api = pipeline_running(
        local_home, tmp_path, ELT_SERVER_LOST_SECONDS=str(LOST_AFTER_SECONDS)
    )
    server_pid = json.loads((local_home / "prefect-server.json").read_text())["pid"]

    os.killpg(server_pid, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        code = process.wait(timeout=LOST_AFTER_SECONDS + 60)
    finally:
        os.killpg(server_pid, signal.SIGCONT)
    ended = time.monotonic() - frozen
    stderr = process.stderr.read()

    assert code == 1, stderr
    assert LOST_AFTER_SECONDS <= ended < LOST_AFTER_SECONDS + 15, ended
    port = api.split(":")[2].split("/")[0]
    assert f"... the Prefect server at http://127.0.0.1:{port} has not answered for" in stderr
    assert stderr.splitlines()[-1].startswith(
        f"error: the Prefect server at http://127.0.0.1:{port} stopped answering"
    ), stderr
    assert stderr.splitlines()[-1].endswith("; `elt server stop`, then `elt run` again"), stderr
    assert "Traceback" not in stderr, stderr
    assert processes_naming(tmp_path) == []  # the connector it ran ended with it
