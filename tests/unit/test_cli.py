"""The `elt` console script as a user runs it (a subprocess, real exit codes and output)."""

import subprocess

from tests.conftest import run_elt


def elt(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    return run_elt(*args, cwd=cwd, **env)


def test_help_lists_the_commands(tmp_path):
    proc = elt("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in ("run", "sync", "transform", "freshness"):
        assert f" {command} " in proc.stdout


def test_snowflake_target_without_settings_exits_with_one_line(tmp_path):
    proc = elt("transform", cwd=tmp_path, DBT_TARGET="prod")
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: DBT_TARGET=prod needs Snowflake settings; missing: ")
    assert "SNOWFLAKE_ACCOUNT" in lines[0] and "SNOWFLAKE_WAREHOUSE" in lines[0]


def test_airbyte_server_without_connection_exits_with_one_line(tmp_path):
    proc = elt("sync", cwd=tmp_path, AIRBYTE_SERVER_URL="http://127.0.0.1:9/api/public/v1")
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines == [
        "error: AIRBYTE_SERVER_URL is set but no connection is: set AIRBYTE_CONNECTION_ID "
        "(one id or a comma-separated list) or pass --connection"
    ]


def test_airbyte_server_url_must_be_http(tmp_path):
    proc = elt("sync", cwd=tmp_path, AIRBYTE_SERVER_URL="localhost:8000", AIRBYTE_CONNECTION_ID="c")
    assert proc.returncode == 1
    assert "AIRBYTE_SERVER_URL='localhost:8000' is not an http(s) URL" in proc.stdout
