"""Against a real `prefect server start`: block registration, `prefect deploy --all`, a process
worker running the daily deployment from the blocks on the embedded defaults, and `elt serve`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest

from bench.microbatch_project import microbatch_project
from orchestration.schedules.daily import DAILY_SCHEDULE
from tests.conftest import CONNECTOR_CACHE, REPO, Running, cli_env, elt_process, query
from tests.fakes.airbyte_server import CONN, Script
from tests.integration.test_backfill import table_rows
from tests.servers import fresh_database
from tests.servers import prefect_server as start_prefect_server

pytestmark = pytest.mark.slow  # deploys on a real server and waits for its scheduler and a worker

PREFECT = str(Path(sys.executable).with_name("prefect"))


def prefect(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(
        [PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


PROCESS_TEMPLATE = REPO / "deploy" / "process" / "base-job-template.json"


def create_process_pool(name: str, env: dict[str, str]) -> None:
    """A process pool of deploy/process/'s template, whose runs send a heartbeat every 30 s
    (with Prefect's 180 s, the shipped `elt-flow-run-lost` automation, applied on the same
    server by other tests, would mark a run of over 90 s Crashed). Through the API: the
    README's `prefect work-pool create` is proven once, by the deploy-all journey."""
    pool = {"name": name, "type": "process",
            "base_job_template": json.loads(PROCESS_TEMPLATE.read_text())}  # fmt: skip
    httpx.post(f"{env['PREFECT_API_URL']}/work_pools/", json=pool, timeout=30).raise_for_status()


def elt(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return elt_process(*args, env=env)


def register(name: str, env: dict[str, str]) -> dict[str, str]:
    """Register the blocks; returns {block ref: status} as printed."""
    command = [sys.executable, "-m", "orchestration.cli", "blocks", "register", "--name", name]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    statuses = {}
    for line in proc.stdout.splitlines():
        status, ref = line.split()[:2]
        statuses[ref.rstrip(":")] = status
    return statuses | {"_output": proc.stdout}


def block_documents(api: str, name: str) -> dict[str, dict]:
    docs = httpx.post(f"{api}/block_documents/filter", json={"include_secrets": False}).json()
    return {f"{d['block_type']['slug']}/{d['name']}": d for d in docs if d["name"] == name}


SECRETS = {
    "AIRBYTE_CLIENT_SECRET": f"airbyte-{uuid.uuid4().hex}",
    "SNOWFLAKE_PASSWORD": f"snowflake-{uuid.uuid4().hex}",
    "AWS_SECRET_ACCESS_KEY": f"aws-{uuid.uuid4().hex}",
}


def test_block_registration_is_idempotent_and_never_shows_a_secret(prefect_server):
    env = {
        **prefect_server,
        "AIRBYTE_SERVER_URL": "https://api.airbyte.com/v1",
        "AIRBYTE_CONNECTION_ID": "conn-a,conn-b",
        "AIRBYTE_CLIENT_ID": "client-1",
        "DBT_TARGET": "prod",
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
        "SNOWFLAKE_ACCOUNT": "acme-eu1",
        "SNOWFLAKE_USER": "ELT",
        "SNOWFLAKE_DATABASE": "ANALYTICS",
        "SNOWFLAKE_SCHEMA": "MARTS",
        "SNOWFLAKE_WAREHOUSE": "TRANSFORM_WH",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        **SECRETS,
    }
    api = env["PREFECT_API_URL"]
    name = "prod-like"
    refs = {
        f"{slug}/{name}"
        for slug in (
            "elt-airbyte-connection",
            "snowflake-credentials",
            "elt-snowflake-connection",
            "elt-dbt-config",
            "aws-credentials",
            "s3-bucket",
            "elt-s3-sensor",
        )
    }

    first = register(name, env)
    saved = block_documents(api, name)
    second = register(name, env)

    assert {k: v for k, v in first.items() if k != "_output"} == dict.fromkeys(refs, "created")
    assert {k: v for k, v in second.items() if k != "_output"} == dict.fromkeys(refs, "unchanged")
    assert block_documents(api, name) == saved  # same documents, not even re-saved
    airbyte = httpx.get(
        f"{api}/block_documents/{saved[f'elt-airbyte-connection/{name}']['id']}",
        params={"include_secrets": True},
    ).json()["data"]
    assert airbyte["connection_ids"] == ["conn-a", "conn-b"]
    assert airbyte["client_secret"] == SECRETS["AIRBYTE_CLIENT_SECRET"]  # stored, not lost

    shown = elt("blocks", "show", "--name", name, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "client_secret=********" in shown.stdout and "password=********" in shown.stdout
    assert "api_token=" not in shown.stdout  # not set: not shown as if it were
    assert f"elt-snowflake-connection/{name}: " in shown.stdout  # its nested credentials too
    inspected = [
        prefect("block", "inspect", ref, env=env)
        for ref in (f"elt-snowflake-connection/{name}", f"aws-credentials/{name}")
    ]
    for output in [first["_output"], second["_output"], shown.stdout, *inspected]:
        for secret in SECRETS.values():
            assert secret not in output


def test_an_unknown_block_name_says_how_to_register_it(prefect_server):
    proc = elt("sync", "--block", "nope", env=prefect_server)
    assert proc.returncode == 1
    *progress, error = proc.stderr.strip().splitlines()  # on a busy machine: "still loading"
    assert all(line.startswith("... still loading") for line in progress), proc.stderr
    assert error == (
        "error: no elt-airbyte-connection block named 'nope' on the Prefect server: register "
        "the blocks with `elt blocks register --name nope`"
    )


SCHEDULED = {"daily-full-pipeline", "s3-sensor", "freshness-check"}


def scheduled_runs(api: str, deployment_ids: list[str]) -> list[dict]:
    """The runs the server's scheduler created for these deployments (auto-scheduled)."""
    body = {
        "deployments": {"id": {"any_": deployment_ids}},
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        "sort": "EXPECTED_START_TIME_ASC",
    }
    runs = httpx.post(f"{api}/flow_runs/filter", json=body).json()
    return [r for r in runs if r["auto_scheduled"]]


def test_deploy_all_then_the_scheduler_creates_runs_and_a_worker_runs_one(prefect_server, tmp_path):
    """The journey of a deployed schedule: `prefect deploy --all`, the server's scheduler
    service creates the Scheduled runs (none is created here), a process worker runs one."""
    env = {**prefect_server, "ELT_WORKDIR": str(REPO)}
    api = env["PREFECT_API_URL"]
    # The blocks choose the dbt project and a default exclusion the worker's environment lacks.
    register(
        "ci",
        {
            **env,
            "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
            "DBT_EXCLUDE": "dim_users",
        },
    )
    prefect(  # as the README makes it
        "work-pool", "create", "elt-process", "--type", "process",
        "--base-job-template", str(PROCESS_TEMPLATE), env=env,
    )  # fmt: skip
    prefect("--no-prompt", "deploy", "--all", env=env)

    deployments = httpx.post(f"{api}/deployments/filter", json={}).json()
    by_name = {d["name"]: d for d in deployments}
    assert set(by_name) == SCHEDULED | {"airbyte-sync", "dbt-transform", "backfill"}
    (hourly,) = by_name["freshness-check"]["schedules"]
    assert hourly["schedule"]["cron"] == "15 * * * *"
    daily = by_name["daily-full-pipeline"]
    assert daily["entrypoint"] == "orchestration/flows/full_pipeline.py:full_pipeline"
    (schedule,) = daily["schedules"]
    assert schedule["schedule"]["cron"] == DAILY_SCHEDULE
    assert schedule["schedule"]["timezone"] == "UTC"
    assert all(d["work_pool_name"] == "elt-process" for d in deployments)

    ids = {name: by_name[name]["id"] for name in SCHEDULED}
    deadline = time.monotonic() + 120
    while True:
        runs = scheduled_runs(api, list(ids.values()))
        if {r["deployment_id"] for r in runs} == set(ids.values()):
            break
        assert time.monotonic() < deadline, f"the scheduler created no runs for all: {runs}"
        time.sleep(1)
    daily_runs = [r for r in runs if r["deployment_id"] == ids["daily-full-pipeline"]]
    assert all(r["expected_start_time"].endswith("06:00:00Z") for r in daily_runs), daily_runs

    # The next 06:00 is hours away: the worker runs the scheduler's run once it is due, so it
    # is made due now (its id, parameters and idempotency key stay the scheduler's). The other
    # schedules are paused first so the worker's one pass takes only this run.
    for name in ("s3-sensor", "freshness-check"):
        httpx.patch(f"{api}/deployments/{ids[name]}", json={"paused": True}).raise_for_status()
    run = daily_runs[0]
    now = datetime.now(UTC).isoformat()
    due = {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": now}}
    httpx.post(
        f"{api}/flow_runs/{run['id']}/set_state", json={"state": due, "force": True}
    ).raise_for_status()

    warehouse = tmp_path / "warehouse.duckdb"
    worker_env = {
        **env,
        "ELT_BLOCK": "ci",
        "DUCKDB_PATH": str(warehouse),
        "ELT_HOME": str(CONNECTOR_CACHE),
        "FAKER_COUNT": "100",
    }
    prefect("worker", "start", "--pool", "elt-process", "--run-once", env=worker_env, timeout=600)

    finished = httpx.get(f"{api}/flow_runs/{run['id']}").json()
    assert finished["state"]["type"] == "COMPLETED", finished["state"]
    assert finished["auto_scheduled"] and finished["idempotency_key"] == run["idempotency_key"]
    relations = {
        row[0] for row in query(warehouse, "select table_name from information_schema.tables")
    }
    assert {"stg_users", "stg_products", "stg_purchases", "users", "daily_revenue"} <= relations
    assert "dim_users" not in relations  # the DbtConfig block's exclusion was applied
    assert query(warehouse, "select count(*) from raw.users") == [
        (100,)
    ]  # the worker's FAKER_COUNT

    # The on-demand `backfill` deployment, run by a worker with its date parameters: the last
    # three days with purchases, on the shipped project with its time-partitioned marts on
    # (a block of its own names that project). The marts are dropped first: what the backfill
    # builds is then all they hold.
    project = microbatch_project(tmp_path, begin=date(2000, 1, 1))
    register("ci-microbatch", {**env, "DBT_PROJECT_DIR": str(project)})
    ((last,),) = query(warehouse, "select max(purchase_date) from analytics.fct_purchases")
    first = last - timedelta(days=2)
    per_day = dict(query(warehouse, PURCHASES_PER_DAY.format(first=first, last=last)))
    with duckdb.connect(str(warehouse)) as db:
        db.execute("drop table analytics.daily_revenue; drop table analytics.fct_purchases")
    parameters = {"start": str(first), "end": str(last), "block_name": "ci-microbatch"}
    backfill = httpx.post(
        f"{api}/deployments/{by_name['backfill']['id']}/create_flow_run",
        json={"parameters": parameters},
    )
    backfill.raise_for_status()
    prefect("worker", "start", "--pool", "elt-process", "--run-once", env=worker_env, timeout=600)

    done = httpx.get(f"{api}/flow_runs/{backfill.json()['id']}").json()
    assert done["state"]["type"] == "COMPLETED", done["state"]
    built = dict(query(warehouse, PURCHASES_PER_DAY.format(first="2000-01-01", last="2100-01-01")))
    assert built == per_day  # exactly those days, as the whole build had them
    artifacts = httpx.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["backfill"]}, "flow_run_id": {"any_": [done["id"]]}}},
    ).json()
    (table,) = artifacts
    rows = table_rows(table)
    assert [r["day"] for r in rows] == [str(first + timedelta(days=i)) for i in range(3)]
    assert {r["fct_purchases status"] for r in rows} == {"success"}
    assert [r["fct_purchases rows"] for r in rows] == [
        per_day.get(first + timedelta(days=i), 0) for i in range(3)
    ]


PURCHASES_PER_DAY = """
    select purchase_date, count(*) from analytics.fct_purchases
    where purchase_date between '{first}' and '{last}' group by 1
"""


SERVED = {"daily-full-pipeline", "s3-sensor", "freshness-check", "airbyte-sync", "dbt-transform",
          "backfill"}  # fmt: skip


def deployments_since(api: str, started: str) -> dict[str, dict]:
    return {
        d["name"]: d
        for d in httpx.post(f"{api}/deployments/filter", json={}).json()
        if d["updated"] > started  # (re)created or updated by `elt serve`
    }


def test_elt_serve_serves_the_same_schedules_from_this_process_and_pauses_them_on_sigterm(
    prefect_server,
):
    api = prefect_server["PREFECT_API_URL"]
    started = datetime.now(UTC).isoformat()
    served = Running("serve", env=prefect_server)
    served.wait_for_line("serving ")
    registered = deployments_since(api, started)
    code, _, stderr = served.stop(signal.SIGTERM)

    assert set(registered) == SERVED
    (schedule,) = registered["daily-full-pipeline"]["schedules"]
    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == (
        DAILY_SCHEDULE,
        "UTC",
    )
    assert registered["s3-sensor"]["parameters"] == {"max_runtime": 3600, "start": "now"}
    assert not any(d["paused"] for d in registered.values())
    assert code == 0, stderr
    assert stderr.rstrip().endswith(
        "paused the schedules of the 6 deployments served\nstopped serving (SIGTERM)"
    ), stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    after = deployments_since(api, started)
    assert {name for name, d in after.items() if d["paused"]} == SERVED  # nobody runs them now


def test_elt_serve_stopped_while_registering_pauses_what_it_registered(prefect_server):
    api = prefect_server["PREFECT_API_URL"]
    started = datetime.now(UTC).isoformat()
    served = Running("serve", env=prefect_server)
    served.wait_for_line("registering ")
    code, _, stderr = served.stop(signal.SIGINT)

    assert code == 0, stderr
    assert stderr.rstrip().endswith("stopped serving (SIGINT)"), stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    registered = deployments_since(api, started)
    assert all(d["paused"] for d in registered.values()), registered  # however many it got to
    if registered:
        assert f"paused the schedules of the {len(registered)} deployments served" in stderr


def test_stopping_elt_serve_cancels_its_running_sync_and_the_airbyte_job(tmp_path, postgres, fake):
    """The journey of a served run stopped with its server: `elt serve` runs a triggered sync,
    SIGTERM stops serving, the run ends Cancelled and its Airbyte job is cancelled. On a Prefect
    server of its own: the session's has the fleet test's `airbyte-api` limit, whose slots the
    sync would wait for."""
    with start_prefect_server(tmp_path / "prefect", cli_env(), fresh_database(postgres)) as env:
        served_sync_is_cancelled_with_its_server(env, fake)


def served_sync_is_cancelled_with_its_server(server: dict[str, str], fake) -> None:
    api = server["PREFECT_API_URL"]
    fake.add_connection(CONN, Script(statuses=["running"]))
    env = {
        **server,
        "AIRBYTE_SERVER_URL": fake.url,
        "AIRBYTE_CONNECTION_ID": CONN,
        "AIRBYTE_POLL_INTERVAL_SECONDS": "0.2",
    }
    served = Running("serve", "--only", "airbyte-sync", env=env)
    try:
        served.wait_for_line("serving ")
        (deployment,) = [
            d
            for d in httpx.post(f"{api}/deployments/filter", json={}).json()
            if d["name"] == "airbyte-sync"
        ]
        run = httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run", json={})
        run_id = run.json()["id"]
        deadline = time.monotonic() + 180
        while not fake.calls("GET", r"/jobs/\d+"):  # the served run is polling its job
            assert time.monotonic() < deadline, "the served run never started its sync"
            time.sleep(0.2)
    finally:
        code, _, stderr = served.stop(signal.SIGTERM)

    assert code == 0, stderr
    assert stderr.rstrip().endswith("stopped serving (SIGTERM)"), stderr
    assert fake.jobs[1001].status == "cancelled"
    state = httpx.get(f"{api}/flow_runs/{run_id}").json()["state"]
    assert state["type"] == "CANCELLED", state
