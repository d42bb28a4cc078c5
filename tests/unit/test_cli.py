"""The `elt` commands as a user runs them, in-process (typer's runner): exit codes, stdout and
stderr as the terminal shows them. `tests/integration/` runs `elt` as a process."""

from tests.conftest import REPO

PROJECT = REPO / "dbt_project"


def test_help_lists_the_commands(tmp_path, cli):
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in ("run", "sync", "transform", "freshness"):
        assert f" {command} " in proc.stdout


def test_snowflake_target_without_settings_exits_with_one_line(tmp_path, cli):
    proc = cli("transform", cwd=tmp_path, DBT_TARGET="prod", DBT_PROJECT_DIR=str(PROJECT))
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "error: dbt target 'prod' is a Snowflake output and needs Snowflake settings; missing "
    )
    assert "SNOWFLAKE_ACCOUNT" in lines[0] and "SNOWFLAKE_WAREHOUSE" in lines[0]


def test_airbyte_server_without_connection_exits_with_one_line(tmp_path, cli):
    proc = cli("sync", cwd=tmp_path, AIRBYTE_SERVER_URL="http://127.0.0.1:9/api/public/v1")
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines == [
        "error: AIRBYTE_SERVER_URL is set but no connection is: set AIRBYTE_CONNECTION_ID "
        "(one id or a comma-separated list), pass --connection, or set AIRBYTE_WORKSPACE_ID "
        "to sync every active connection of a workspace"
    ]


def test_airbyte_server_url_must_be_http(tmp_path, cli):
    proc = cli("sync", cwd=tmp_path, AIRBYTE_SERVER_URL="localhost:8000", AIRBYTE_CONNECTION_ID="c")
    assert proc.returncode == 1
    assert "AIRBYTE_SERVER_URL: 'localhost:8000' is not an http(s) URL" in proc.stderr


def test_block_registration_lists_every_missing_and_invalid_variable_at_once(tmp_path, cli):
    secret = "pw-never-printed"
    env = {
        "AIRBYTE_SERVER_URL": "http://127.0.0.1:9/api/public/v1",
        "AIRBYTE_CLIENT_ID": "client",
        "AIRBYTE_POLL_INTERVAL_SECONDS": "often",
        "DBT_TARGET": "prod",
        "SNOWFLAKE_PASSWORD": secret,
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",  # nothing is saved: never contacted
    }
    proc = cli("blocks", "register", "--name", "production", cwd=tmp_path, **env)
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    message = lines[0]
    assert message.startswith("error: cannot register the blocks: ")
    for name in (
        "AIRBYTE_POLL_INTERVAL_SECONDS: Input should be a valid number",
        "AIRBYTE_CONNECTION_ID: missing",
        "AIRBYTE_CLIENT_SECRET: missing",
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_DATABASE",
        "SNOWFLAKE_SCHEMA",
        "SNOWFLAKE_WAREHOUSE",
    ):
        assert name in message
    assert "SNOWFLAKE_PASSWORD" not in message  # set: not missing
    assert secret not in message


def test_without_the_embedded_airbyte_the_fix_is_named_before_any_work(tmp_path, cli):
    proc = cli("run", cwd=tmp_path, EMBEDDED_AIRBYTE_PROJECT_DIR=str(tmp_path / "missing"))
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: no embedded Airbyte here (EMBEDDED_AIRBYTE_PROJECT_DIR=")
    assert "set AIRBYTE_SERVER_URL" in lines[0]


def test_a_password_in_a_malformed_airbyte_url_is_not_echoed(tmp_path, cli):
    url = "admin:S3cret@localhost:8000/api/public/v1"  # no scheme
    proc = cli("sync", cwd=tmp_path, AIRBYTE_SERVER_URL=url, AIRBYTE_CONNECTION_ID="c")
    assert proc.returncode == 1
    assert "AIRBYTE_SERVER_URL: '***@localhost:8000/api/public/v1' is not an http(s)" in proc.stderr
    assert "S3cret" not in proc.stdout + proc.stderr


def test_work_runs_with_the_garbage_collector_on_after_the_start_up_pause(tmp_path, monkeypatch):
    import gc

    from orchestration.cli import _policy
    from orchestration.config import load_config
    from orchestration.runtime import collector
    from tests.conftest import apply_env

    apply_env(monkeypatch, tmp_path)
    collector.pause_for_imports()
    try:
        assert gc.isenabled() is False
        assert _policy.run_flow(load_config(), gc.isenabled) is True
    finally:
        gc.enable()
        gc.unfreeze()


def test_every_command_works_with_the_garbage_collector_on(tmp_path, monkeypatch):
    """`elt` starts with the collector paused for its imports; a command that never runs a flow
    (`elt server status` without a server) or stops before one (bad `--vars`) turns it back on."""
    import gc

    from typer.testing import CliRunner

    from orchestration.cli.main import app
    from orchestration.runtime import collector
    from tests.conftest import apply_env

    apply_env(monkeypatch, tmp_path, ELT_HOME=str(tmp_path / "home"))
    for command in (["server", "status"], ["transform", "--vars", "["]):
        collector.pause_for_imports()
        try:
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 1, result.output
            assert gc.isenabled(), f"elt {' '.join(command)} left the collector off"
        finally:
            gc.enable()
            gc.unfreeze()
