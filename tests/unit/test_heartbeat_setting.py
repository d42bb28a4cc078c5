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


def probe(code: str, **env: str) -> str:
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(REPO), **env}  # nothing of ours set
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


HEARTBEAT = (
    "import orchestration.flows.full_pipeline as f; "
    "from prefect.flow_engine import FlowRunEngine; "
    "print(FlowRunEngine(flow=f.full_pipeline).heartbeat_seconds)"
)


def test_importing_the_package_writes_no_environment():
    code = (
        "import os, json, orchestration.flows.full_pipeline, orchestration.cli.main; "
        "from orchestration.runtime.process_defaults import DEFAULTS; "
        "print(json.dumps(sorted(k for k in DEFAULTS if k in os.environ)))"
    )
    assert probe(code) == "[]"
    assert probe(HEARTBEAT) == "180"  # Prefect's own, untouched


def test_elt_runs_its_flows_with_the_heartbeat():
    """Through `elt`'s own entry point (`main`), with a command added that reads the setting
    the flow engine will use."""
    code = (
        "import sys\n"
        "import orchestration.cli.main as commands\n"
        "from orchestration.cli.entry import main\n"
        "@commands.app.command('probe')\n"
        "def probe():\n"
        f"    exec({HEARTBEAT!r})\n"
        "sys.argv = ['elt', 'probe']\n"
        "main()\n"
    )
    assert probe(code) == str(HEARTBEAT_SECONDS)
    assert probe(code, **{SETTING: "45"}) == "45"  # the user's own value stays


def test_a_flow_run_as_a_script_runs_with_the_heartbeat():
    """`python -m orchestration.flows...` imported Prefect first: the defaults are laid over
    its settings for the run (`run_as_script`)."""
    code = (
        "from orchestration.runtime import process_defaults\n"
        "with process_defaults.as_prefect_defaults():\n"
        f"    exec({HEARTBEAT!r})\n"
    )
    assert probe(code) == str(HEARTBEAT_SECONDS)
