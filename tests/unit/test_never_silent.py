"""scripts/never_silent.py, which CI runs `make run` through on a fresh clone: a command that
speaks often enough passes, one silent for longer than allowed fails naming where."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "never_silent.py"


def watched(max_silence: str, shell: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--max-silence", max_silence, "--", "bash", "-c", shell],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_command_silent_for_longer_than_allowed_fails_naming_the_line_after():
    ran = watched("0.3", "echo one; sleep 1; echo two")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "] one" in ran.stdout and "] two" in ran.stdout  # its output passes through
    assert "said nothing for 1." in ran.stderr and "before 'two'" in ran.stderr


def test_a_command_that_speaks_in_time_passes_and_its_failure_is_its_exit_code():
    assert watched("30", "echo one; echo two").returncode == 0
    failed = watched("30", "echo one; exit 3")
    assert failed.returncode == 3 and "exited 3" in failed.stderr
