"""Every private upstream symbol the project relies on is where `orchestration/upstream.py`
says, with the parameters it passes; the lint check finds a private name used elsewhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from orchestration import upstream
from tests.conftest import REPO


@pytest.mark.parametrize("entry", upstream.PRIVATE, ids=lambda e: e.symbol)
def test_each_private_symbol_is_where_we_expect_it(entry: upstream.Private):
    try:
        entry.resolve()
    except upstream.UpstreamChanged as exc:
        pytest.fail(str(exc), pytrace=False)


def test_a_changed_symbol_is_named_in_one_line_with_its_version_and_use():
    gone = upstream.Private("prefect", "prefect.flow_engine", "_no_such_thing", (), "a probe")
    with pytest.raises(upstream.UpstreamChanged) as caught:
        gone.resolve()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("prefect.flow_engine._no_such_thing is gone in prefect 3.")
    assert "it is used for a probe" in message
    renamed = upstream.Private(
        "prefect", "prefect.flow_engine", "_send_heartbeats", ("engine", "join"), "a probe"
    )
    with pytest.raises(upstream.UpstreamChanged, match="no longer takes join in prefect"):
        renamed.resolve()


def test_the_control_intent_is_none_without_a_supervisor():
    assert upstream.control_intent() is None


def test_the_heartbeat_change_applies_once_and_keeps_prefects_own_sender():
    original = upstream.heartbeat_sender()
    assert upstream.leave_heartbeat_threads_unjoined() is True
    assert upstream.leave_heartbeat_threads_unjoined() is True  # idempotent
    assert upstream.heartbeat_sender() is original


def test_the_lint_check_fails_on_a_private_upstream_name_outside_its_home(tmp_path):
    """Run on the repository, the check passes; a file that reaches a private Prefect name
    (by import, by attribute, by getattr) is reported with its line."""
    clean = subprocess.run(
        [sys.executable, "scripts/check_private_names.py"], cwd=REPO, capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import prefect.flow_engine as flow_engine
            from prefect.context import _temporary_global_settings_context
            from prefect._internal.control_listener import get_intent

            flow_engine._send_heartbeats
            getattr(flow_engine, "_send_heartbeats", None)
            """
        )
    )
    found = subprocess.run(
        [sys.executable, "scripts/check_private_names.py", str(probe)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert found.returncode == 1
    lines = found.stdout.splitlines()
    where = probe
    assert lines == [
        f"{where}:3: imports _temporary_global_settings_context from prefect.context",
        f"{where}:4: imports the private module prefect._internal.control_listener",
        f"{where}:6: uses the private attribute _send_heartbeats",
        f"{where}:7: reaches the private attribute '_send_heartbeats'",
    ]
    assert found.stderr.startswith("error: 4 private upstream name(s) outside")
