"""`elt`'s entry point takes Ctrl-C from its first moment: a signal that lands while the
commands are imported (where Prefect's or pydantic's code wraps it in an error of its own) ends
the process in one line with the signal's exit status, not a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import REPO

# The root command, replaced by one that is interrupted the way an import can be: the signal
# arrives (the handler records it and raises), and the code it lands in wraps the exception.
INTERRUPTED_IMPORT = """
import signal, sys
import orchestration.cli.main as commands
from orchestration.cli.entry import main

def interrupted_import():
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt as exc:
        raise ValueError("Error calling function `_ser_model`: Interrupted: SIGINT") from exc

commands.app = interrupted_import
sys.argv = ["elt", "run"]
main()
"""


def test_a_signal_during_the_imports_ends_elt_in_one_line_with_its_status():
    ran = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IMPORT], cwd=REPO, capture_output=True, text=True
    )
    assert ran.returncode == 128 + signal.SIGINT, ran.stderr
    lines = [line for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
    assert lines == ["error: interrupted (SIGINT) before any run started"], lines


def test_a_failure_without_a_signal_is_not_called_an_interruption():
    code = INTERRUPTED_IMPORT.replace("signal.raise_signal(signal.SIGINT)", "raise KeyError(1)")
    code = code.replace("except KeyboardInterrupt", "except KeyError")
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert ran.returncode == 1
    assert "error: interrupted" not in ran.stderr
    assert "ValueError" in ran.stderr
