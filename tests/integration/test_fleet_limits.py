"""Past one machine, on one machine: a real `prefect server start`, three process workers on
one pool, and the `airbyte-api` global concurrency limit holding across all of them, judged
from the fake Airbyte server's own record of when each job started and ended."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.conftest import REPO, cli_env, stop_worker, wait_until
from tests.fakes.airbyte_server import FakeAirbyte, Script
from tests.integration.test_deployments import PREFECT, create_process_pool, elt, prefect
from tests.servers import create_flow_run

pytestmark = pytest.mark.slow  # three workers and their runs on a real server

NEEDS_PREFECT_API = False  # workers and flow runs are subprocesses on the session's server

POOL = "elt-fleet"
WORKERS = 3
RUNS = 4  # one more than the workers: a run also waits for a worker
LIMIT = 2
WAITING = "waiting for a slot of the global concurrency limit 'airbyte-api'"


def flow_run_states(api: str, ids: list[str]) -> dict[str, str]:
    runs = httpx.post(
        f"{api}/flow_runs/filter", json={"flow_runs": {"id": {"any_": ids}}, "limit": 200}
    ).json()
    return {run["id"]: run["state"]["type"] for run in runs}


def logged(api: str, ids: list[str], text: str) -> bool:
    logs = httpx.post(
        f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": ids}}, "limit": 200}
    ).json()
    return any(text in log["message"] for log in logs)


def test_three_workers_never_run_more_airbyte_jobs_than_the_global_limit(
    prefect_server, fake: FakeAirbyte
):
    # The one variable that picks the pool for every deployment of prefect.yaml.
    env = {**prefect_server, "ELT_WORKDIR": str(REPO), "PREFECT_DEFAULT_WORK_POOL_NAME": POOL}
    api = env["PREFECT_API_URL"]
    held = Script(statuses=["running"])  # every job runs until the test lets them finish
    connections = [fake.add_connection(f"conn-{i}", held) for i in range(RUNS)]

    sized = {**env, "ELT_LIMIT_AIRBYTE_SYNCS": str(LIMIT)}
    first, second = elt("limits", "apply", env=sized), elt("limits", "apply", env=sized)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"created   airbyte-api: {LIMIT} (ELT_LIMIT_AIRBYTE_SYNCS);")
    assert second.stdout.startswith("unchanged airbyte-api:")

    create_process_pool(POOL, env)
    prefect("--no-prompt", "deploy", "--name", "airbyte-sync", env=env)
    (deployment,) = httpx.post(
        f"{api}/deployments/filter", json={"deployments": {"name": {"any_": ["airbyte-sync"]}}}
    ).json()
    assert deployment["work_pool_name"] == POOL

    run_ids = [
        create_flow_run(api, deployment["id"], {"connection_ids": [connection]})
        for connection in connections
    ]
    worker_env = cli_env(
        **env,
        AIRBYTE_SERVER_URL=fake.url,
        AIRBYTE_POLL_INTERVAL_SECONDS="0.2",
        PREFECT_WORKER_QUERY_SECONDS="1",
    )
    workers = [
        subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", POOL, "--name", f"fleet-{i}", "--limit", "1"],
            cwd=REPO,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(WORKERS)
    ]
    try:

        def limit_reached() -> bool:
            assert fake.peak_active() <= LIMIT, f"{fake.peak_active()} jobs ran at once"
            return len(fake.active_jobs()) == LIMIT and logged(api, run_ids, WAITING)

        # Two jobs run; a third run, on another worker, says it waits for a slot.
        wait_until(limit_reached, f"{LIMIT} jobs run and another run waits for a slot")
        assert len(fake.active_jobs()) == LIMIT
        held.statuses = ["succeeded"]  # the running jobs end at their next poll, later ones at once

        def all_ended() -> bool:
            states = flow_run_states(api, run_ids)
            return all(state in ("COMPLETED", "FAILED", "CRASHED") for state in states.values())

        wait_until(all_ended, "every run ended")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            stop_worker(worker)

    assert set(flow_run_states(api, run_ids).values()) == {"COMPLETED"}
    assert fake.peak_active() == LIMIT  # never more, across the three workers
    assert sorted(job.connection_id for job in fake.jobs.values()) == sorted(connections)
    assert {job.status for job in fake.jobs.values()} == {"succeeded"}
    assert fake.calls("DELETE") == []  # no job was cancelled
    (limit,) = [
        limit
        for limit in httpx.post(f"{api}/v2/concurrency_limits/filter", json={}).json()
        if limit["name"] == "airbyte-api"
    ]
    assert limit["active_slots"] == 0  # every slot given back
