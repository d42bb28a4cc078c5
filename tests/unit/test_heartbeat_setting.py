"""Every flow run we start sends a heartbeat every 30 s, and `elt-flow-run-lost` waits three of
them before it calls a run dead: Prefect's own default (one every 180 s) would have every run
longer than 90 s marked Crashed while it is still working."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from orchestration.runtime.heartbeats import HEARTBEAT_SECONDS
from tests.conftest import REPO

SETTING = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


def test_the_lost_run_automation_waits_three_heartbeats():
    automation = yaml.safe_load((REPO / "automations" / "flow-run-lost.yaml").read_text())
    assert automation["trigger"]["within"] >= 3 * HEARTBEAT_SECONDS


def test_both_work_pools_give_their_runs_the_heartbeat_and_so_does_the_image():
    for pool in ("process", "kubernetes"):
        template = json.loads((REPO / "deploy" / pool / "base-job-template.json").read_text())
        default_env = template["variables"]["properties"]["env"]["default"]
        assert default_env[SETTING] == str(HEARTBEAT_SECONDS), pool
    assert f"{SETTING}={HEARTBEAT_SECONDS}" in (REPO / "Dockerfile").read_text()


def test_a_process_that_imports_us_first_runs_flows_with_the_heartbeat():
    """As `elt`, `elt serve` and `python -m orchestration.flows...` start: ours, then Prefect."""
    probe = (
        "import orchestration.flows.full_pipeline as m; "
        "from prefect.flow_engine import FlowRunEngine; "
        "print(FlowRunEngine(flow=m.full_pipeline).heartbeat_seconds)"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(REPO)}  # nothing of ours set
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert out.stdout.strip().splitlines()[-1] == str(HEARTBEAT_SECONDS), out.stderr
