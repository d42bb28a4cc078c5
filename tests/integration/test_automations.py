"""Alerting as code, proven on a real `prefect server start`: `elt automations apply` is
idempotent, and a stale table reaches a local webhook receiver exactly once, fresh data never."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import REPO, run_elt
from tests.integration.test_freshness import age_table
from tests.servers import WebhookReceiver

NAMES = {"elt-freshness-breached", "elt-pipeline-failed", "elt-dbt-node-failed"}


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.server.shutdown()


def elt(*args: str, env: dict[str, str], cwd, **extra: str):
    return run_elt(*args, cwd=cwd, **{**env, **extra})


def test_apply_is_idempotent_and_a_breach_reaches_the_webhook_once(
    prefect_server, receiver, warehouse, elt_env
):
    env = {**prefect_server, "ALERT_WEBHOOK_URL": receiver.url}
    api = env["PREFECT_API_URL"]

    dry = elt("automations", "apply", "--dry-run", env=env, cwd=elt_env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.count("would be created") == 3
    assert httpx.post(f"{api}/automations/filter", json={}).json() == []  # nothing changed

    first = elt("automations", "apply", env=env, cwd=elt_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(first.stdout.split()) == sorted(["created"] * 3 + list(NAMES))
    second = elt("automations", "apply", env=env, cwd=elt_env)
    assert sorted(second.stdout.split()) == sorted(["unchanged"] * 3 + list(NAMES))
    saved = httpx.post(f"{api}/automations/filter", json={}).json()
    assert sorted(a["name"] for a in saved) == sorted(NAMES)  # one per name
    shown = elt("automations", "show", env=env, cwd=elt_env)
    assert "elt.freshness.breached" in shown.stdout

    # The mart was built just now on this server's record, so only source tables can breach.
    now = datetime.now(UTC).isoformat()
    httpx.post(
        f"{api}/variables/",
        json={"name": "elt_dbt_builds_local", "value": {"daily_revenue": now}},
    ).raise_for_status()
    check = {"DUCKDB_PATH": str(warehouse), "DBT_PROJECT_DIR": str(REPO / "dbt_project")}

    fresh = elt("freshness", env=env, cwd=elt_env, **check)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    age_table(warehouse, "users", hours=48)
    stale = elt("freshness", env=env, cwd=elt_env, **check)
    assert stale.returncode == 1

    (call,) = receiver.wait_for(1, timeout=90)
    assert (call["table"], call["kind"], call["target"]) == ("users", "source", "local")
    assert float(call["age_hours"]) >= 48 and call["sla"] == "error 25 hours"
    assert call["text"].startswith("Freshness SLA breached: source users on target local is 48.")
    time.sleep(3)  # anything else the server would still send arrives by now
    assert len(receiver.calls) == 1  # the fresh run and the passing tables sent nothing
