"""Which port the local server starts on: the one it had last time while it is free, another one
when something else holds it, and the line that names what holds it."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator

import pytest

from orchestration.server import local_server


@pytest.fixture
def listening() -> Iterator[int]:
    """A port this process listens on, as another program's server would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def kept_port(tmp_path, monkeypatch) -> Iterator[Callable[[int], None]]:
    """Record `port` as the local server's port last time, in an ELT_HOME of its own."""
    monkeypatch.setenv("ELT_HOME", str(tmp_path))

    def keep(port: int) -> None:
        (tmp_path / "prefect-server.json").write_text(json.dumps({"port": port}))

    yield keep


def test_the_holder_of_a_port_is_named_with_its_command(listening):
    holders = local_server.port_holders(listening)
    assert holders.startswith(f"pid {os.getpid()}: ")
    assert "pytest" in holders or "python" in holders


def test_a_port_nobody_listens_on_has_no_holder():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: held by nobody's server
        port = sock.getsockname()[1]
    assert local_server.port_holders(port) == ""


def test_a_free_kept_port_comes_first(kept_port):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kept_port(port)
    assert local_server._candidate_ports()[0] == port


def test_a_kept_port_still_held_after_its_wait_is_passed_over(kept_port, listening, monkeypatch):
    monkeypatch.setattr(local_server, "KEPT_PORT_WAIT_SECONDS", 0.3)  # shipped: checked below
    kept_port(listening)
    ports = local_server._candidate_ports()
    assert listening not in ports and len(ports) == 3


def test_the_shipped_wait_for_a_kept_port_outlasts_a_stopping_server():
    assert local_server.KEPT_PORT_WAIT_SECONDS >= 10
