from pathlib import Path

import pytest

from orchestration.errors import ConfigError
from orchestration.settings import get_settings
from tests.conftest import apply_env


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    apply_env(monkeypatch, tmp_path)
    return tmp_path


def test_defaults_are_the_embedded_world(clean_env, monkeypatch):
    for name in ("DUCKDB_PATH", "ELT_HOME", "DBT_PROJECT_DIR", "FAKER_SEED", "FAKER_COUNT"):
        monkeypatch.delenv(name)
    s = get_settings()
    assert s.embedded_airbyte and s.dbt_target == "local" and not s.uses_snowflake
    assert s.duckdb_path == Path(".elt/warehouse.duckdb")
    assert (s.s3_bucket, s.s3_prefix, s.freshness_threshold_hours) == (
        "my-data-lake-landing",
        "inbound/",
        25,
    )
    assert s.streams == ["users", "products", "purchases"]
    s.require_warehouse()  # DuckDB needs no credentials


def test_snowflake_target_lists_every_missing_variable_in_one_message(clean_env, monkeypatch):
    monkeypatch.setenv("DBT_TARGET", "prod")
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "xy12345")
    with pytest.raises(ConfigError) as err:
        get_settings().require_warehouse()
    message = str(err.value)
    assert "\n" not in message
    for name in ("SNOWFLAKE_USER", "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA", "SNOWFLAKE_WAREHOUSE"):
        assert name in message
    assert "SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH" in message
    assert "SNOWFLAKE_ACCOUNT" not in message


def test_key_pair_replaces_the_password(clean_env, monkeypatch):
    for key, value in {
        "DBT_TARGET": "dev",
        "SNOWFLAKE_ACCOUNT": "a",
        "SNOWFLAKE_USER": "u",
        "SNOWFLAKE_DATABASE": "d",
        "SNOWFLAKE_SCHEMA": "s",
        "SNOWFLAKE_WAREHOUSE": "w",
        "SNOWFLAKE_PRIVATE_KEY_PATH": "/keys/rsa.p8",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "pp",
    }.items():
        monkeypatch.setenv(key, value)
    s = get_settings()
    s.require_warehouse()
    args = s.snowflake_connect_args()
    assert args["private_key_file"] == "/keys/rsa.p8" and "password" not in args
    assert "pp" not in repr(s)  # secrets never print


def test_dotenv_file_is_read_and_the_environment_wins(clean_env, monkeypatch):
    (clean_env / ".env").write_text("S3_BUCKET=from-dotenv\nS3_PREFIX=landing/\n")
    monkeypatch.setenv("S3_PREFIX", "from-env/")
    s = get_settings()
    assert (s.s3_bucket, s.s3_prefix) == ("from-dotenv", "from-env/")


def test_invalid_value_is_one_line_naming_the_variable(clean_env, monkeypatch):
    monkeypatch.setenv("FAKER_COUNT", "lots")
    with pytest.raises(ConfigError, match=r"^invalid settings: FAKER_COUNT: .*'lots'") as err:
        get_settings()
    assert "\n" not in str(err.value)


def test_invalid_secret_is_not_echoed(clean_env, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_PORT", "not-a-port")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "hunter2-very-secret")
    with pytest.raises(ConfigError) as err:
        get_settings()
    assert "hunter2" not in str(err.value)
