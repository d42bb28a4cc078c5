"""The benchmarks that `make bench` runs and no other test does, each run at a tiny size: they
must run to their report (their targets are for the full size, so only the report is checked).
The parity pieces (bench/parity_*.py) run through `make parity-smoke`, which CI runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env

SMOKE = {
    "airbyte_concurrency": (
        ["--connections", "3", "--job-seconds", "1", "--poll-interval", "0.1"],
        ["connections: 3, failed: 0", "requests per job: ", "wall/longest-job ratio: "],
    ),
    "s3_sensor_scale": (
        ["--objects", "200", "--polls", "50"],
        ["arrival-day  : ", "event mode   : ", "memory       : 50 listing polls"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_a_benchmark_runs_to_its_report(script, tmp_path):
    args, lines = SMOKE[script]
    ran = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=300,
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode in (0, 1), output  # 1: a full-size target not met at this size
    assert "Traceback" not in output, output
    for line in lines:
        assert line in ran.stdout, output
