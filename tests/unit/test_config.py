"""The configuration models read from the environment and `.env`: defaults, validation that
names the variable (or flag) and never a secret, and the dbt target's adapter deciding what
else is needed."""

import os
from pathlib import Path

import pytest

from orchestration.config import load_config, setting_variables
from orchestration.errors import ConfigError
from tests.conftest import REPO, apply_env

SNOWFLAKE = {
    "SNOWFLAKE_ACCOUNT": "a",
    "SNOWFLAKE_USER": "u",
    "SNOWFLAKE_DATABASE": "d",
    "SNOWFLAKE_SCHEMA": "s",
    "SNOWFLAKE_WAREHOUSE": "w",
}


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    apply_env(monkeypatch, tmp_path)
    return tmp_path


def test_defaults_are_the_embedded_world(clean_env, monkeypatch):
    for name in ("DUCKDB_PATH", "ELT_HOME", "FAKER_SEED", "FAKER_COUNT"):
        monkeypatch.delenv(name)
    c = load_config()
    assert c.airbyte.embedded and c.snowflake is None
    assert c.embedded.duckdb_path == Path(".elt/warehouse.duckdb")
    assert (c.s3.bucket_name, c.s3.prefix, c.options.freshness_threshold_hours) == (
        "my-data-lake-landing",
        "inbound/",
        25,
    )
    assert c.airbyte.streams == ["users", "products", "purchases"]
    target = c.require_warehouse()  # DuckDB needs no credentials
    assert (target.name, target.adapter_type) == ("local", "duckdb")


def test_a_snowflake_target_lists_every_missing_variable_in_one_message(clean_env, monkeypatch):
    monkeypatch.setenv("DBT_TARGET", "prod")
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "xy12345")
    with pytest.raises(ConfigError) as err:
        load_config().require_warehouse()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("dbt target 'prod' is a Snowflake output")
    for name in ("SNOWFLAKE_USER", "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA", "SNOWFLAKE_WAREHOUSE"):
        assert name in message
    assert "SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH" in message
    assert "SNOWFLAKE_ACCOUNT" not in message


def test_the_adapter_type_not_the_target_name_decides(clean_env, monkeypatch):
    """A target called `dev` on DuckDB needs no Snowflake; any name of the profile works."""
    profiles = clean_env / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "elt:\n  target: duck\n  outputs:\n"
        "    duck: {type: duckdb, path: x.duckdb}\n    dev: {type: duckdb, path: y.duckdb}\n"
    )
    monkeypatch.setenv("DBT_PROFILES_DIR", str(profiles))
    assert load_config().require_warehouse().name == "duck"  # the profile's default
    dev = load_config(overrides={"dbt.target": "dev"}).require_warehouse()
    assert (dev.name, dev.adapter_type) == ("dev", "duckdb")
    with pytest.raises(ConfigError, match=r"target 'prod' .* use one of dev, duck$"):
        load_config(overrides={"dbt.target": "prod"}).require_warehouse()


def test_key_pair_replaces_the_password(clean_env, monkeypatch):
    for key, value in {
        **SNOWFLAKE,
        "DBT_TARGET": "dev",
        "SNOWFLAKE_PRIVATE_KEY_PATH": "/keys/rsa.p8",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "pp-secret",
    }.items():
        monkeypatch.setenv(key, value)
    c = load_config()
    env = c.dbt_env(c.require_warehouse())
    assert env["SNOWFLAKE_PRIVATE_KEY_PATH"] == "/keys/rsa.p8" and env["SNOWFLAKE_PASSWORD"] == ""
    assert env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] == "pp-secret"
    assert "pp-secret" not in repr(c)  # secrets never print


def test_dotenv_file_is_read_and_the_environment_wins(clean_env, monkeypatch):
    (clean_env / ".env").write_text("S3_BUCKET=from-dotenv\nS3_PREFIX=landing/\n")
    monkeypatch.setenv("S3_PREFIX", "from-env/")
    c = load_config()
    assert (c.s3.bucket_name, c.s3.prefix) == ("from-dotenv", "from-env/")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: os.mkfifo(p), "is not a file"),  # a pipe, a socket...
        (lambda p: p.symlink_to(p.parent / "gone"), "is a symlink to nothing"),
        (lambda p: p.write_bytes(b"S3_BUCKET=caf\xe9\n"), "is not UTF-8 text"),
    ],
)
def test_a_dotenv_that_cannot_be_read_is_named_not_ignored(clean_env, make, fragment):
    make(clean_env / ".env")
    with pytest.raises(ConfigError, match=fragment) as err:
        load_config()
    assert str(clean_env / ".env") in str(err.value) or str((clean_env / ".env").resolve()) in str(
        err.value
    )


def test_a_dotenv_directory_is_ignored_as_dbt_ignores_it(clean_env, monkeypatch, capsys):
    (clean_env / ".env" / "bin").mkdir(parents=True)  # a virtualenv named .env
    (clean_env / ".env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    monkeypatch.setenv("S3_BUCKET", "from-env")
    assert load_config().s3.bucket_name == "from-env"
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("ELT_DEBUG", "1")
    load_config()
    assert "is a directory, not a .env file: ignored" in capsys.readouterr().err


def test_every_invalid_value_is_named_by_its_variable_in_one_line(clean_env, monkeypatch):
    monkeypatch.setenv("FAKER_COUNT", "lots")
    monkeypatch.setenv("FRESHNESS_THRESHOLD_HOURS", "inf")  # an SLA that could never fail
    monkeypatch.setenv("AIRBYTE_TIMEOUT_SECONDS", "nan")
    with pytest.raises(ConfigError) as err:
        load_config()
    message = str(err.value)
    assert message.startswith("invalid configuration: ") and "\n" not in message
    assert "FAKER_COUNT: Input should be a valid integer" in message and "'lots'" in message
    assert "FRESHNESS_THRESHOLD_HOURS: Input should be a finite number" in message
    assert "AIRBYTE_TIMEOUT_SECONDS: Input should be a finite number" in message


def test_a_flag_value_is_named_by_the_flag(clean_env):
    with pytest.raises(ConfigError) as err:
        load_config(
            overrides={"s3.poll_interval_seconds": 0.0, "dbt.threads": 0},
            origins={"s3.poll_interval_seconds": "--poll-interval", "dbt.threads": "--threads"},
        )
    message = str(err.value)
    assert "--poll-interval: Input should be greater than 0" in message
    assert "--threads: Input should be greater than or equal to 1" in message
    assert "s3_poll_interval" not in message and ".env" not in message


def test_a_secret_in_an_invalid_combination_is_not_echoed(clean_env, monkeypatch):
    """prefect-snowflake refuses a password next to a key passphrase; the error comes with
    the whole credentials input, which must not be printed. (Snowflake is loaded when first
    used, so a command that needs no Snowflake is not stopped by it.)"""
    for key, value in {
        **SNOWFLAKE,
        "SNOWFLAKE_PASSWORD": "hunter2-very-secret",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "other-secret",
    }.items():
        monkeypatch.setenv(key, value)
    config = load_config()
    with pytest.raises(ConfigError, match="Do not provide both password") as err:
        _ = config.snowflake
    assert "hunter2" not in str(err.value) and "other-secret" not in str(err.value)


def test_a_new_field_gets_its_variable_from_its_name():
    """Isolation and error messages use the models' own variable names: nothing to list."""
    variables = setting_variables()
    for name in ("AIRBYTE_POLL_INTERVAL_SECONDS", "AIRBYTE_CLIENT_SECRET", "S3_SENSOR_DEPLOYMENT"):
        assert name in variables
    assert {"AWS_ACCESS_KEY_ID", "DBT_TARGET", "SNOWFLAKE_HOST", "ELT_BLOCK"} <= set(variables)
    assert {"ELT_HOME", "ELT_LOCAL_SERVER", "ELT_SERVE_STOP_SECONDS"} <= set(variables)
    # the test session starts without any of them, but the tests' own choice of server
    assert set(variables) & set(os.environ) == {"ELT_LOCAL_SERVER"}


def test_the_project_profile_keeps_its_snowflake_targets():
    from orchestration.config import DbtConfig

    dbt = DbtConfig(project_dir=REPO / "dbt_project", target="prod")
    target = dbt.resolve_target({})
    assert target.adapter_type == "snowflake" and target.reads("SNOWFLAKE_")


def test_dbt_gets_the_profiles_threads_unless_told_and_vars_as_dbt_reads_them(clean_env):
    import datetime

    import yaml

    dbt = load_config().dbt
    args = dbt.args("build", dbt_vars={"day": datetime.date(2026, 11, 1), "n": [1, "two"]})
    assert "--threads" not in args  # the target's own `threads`
    assert yaml.safe_load(args[args.index("--vars") + 1]) == {
        "day": datetime.date(2026, 11, 1),  # a date still, as dbt reads `day: 2026-11-01`
        "n": [1, "two"],
    }
    assert dbt.args("build", dbt_vars="day: 2026-11-01")[-1] == "day: 2026-11-01"  # as written
    told = load_config(overrides={"dbt.threads": 2}).dbt.args("build")
    assert told[told.index("--threads") + 1] == "2"


def test_only_what_the_user_set_reaches_a_foreign_projects_profile(clean_env, monkeypatch):
    foreign = clean_env / "theirs"
    foreign.mkdir()
    (foreign / "dbt_project.yml").write_text("name: theirs\nprofile: theirs\n")
    (foreign / "profiles.yml").write_text(
        "theirs:\n  target: t\n  outputs:\n    t: {type: duckdb, path: mine.duckdb}\n"
    )
    monkeypatch.setenv("DBT_PROJECT_DIR", str(foreign))
    for name in ("DUCKDB_PATH", "AIRBYTE_RAW_SCHEMA", "FRESHNESS_THRESHOLD_HOURS"):
        monkeypatch.delenv(name, raising=False)  # as on a machine that never set them
    assert load_config().dbt_env() == {}  # our defaults are for our project only
    (clean_env / ".env").write_text("AIRBYTE_RAW_SCHEMA=landing\n")
    assert load_config().dbt_env() == {"AIRBYTE_RAW_SCHEMA": "landing"}  # set in .env
    monkeypatch.setenv("DBT_PROJECT_DIR", str(REPO / "dbt_project"))
    ours = load_config().dbt_env()
    assert set(ours) == {"DUCKDB_PATH", "AIRBYTE_RAW_SCHEMA", "FRESHNESS_THRESHOLD_HOURS"}


def test_elt_home_is_the_repositorys_from_any_folder_set_or_not(tmp_path, monkeypatch):
    """One local server per checkout: `elt` run from another folder must not start a second
    one under that folder's `.elt` (seen: a server per working folder when ELT_HOME was unset)."""
    from orchestration.config.local_settings import local_settings

    monkeypatch.chdir(tmp_path)
    assert local_settings({}).elt_home == REPO / ".elt"
    assert local_settings({"ELT_HOME": ".elt"}).elt_home == REPO / ".elt"
    assert local_settings({"ELT_HOME": str(tmp_path)}).elt_home == tmp_path


def test_a_silent_server_is_waited_for_thirty_seconds_unless_set_and_never_less_than_five():
    from orchestration.config.local_settings import local_settings

    assert local_settings({}).elt_server_lost_seconds == 30
    assert local_settings({"ELT_SERVER_LOST_SECONDS": "90"}).elt_server_lost_seconds == 90
    with pytest.raises(ConfigError) as refused:
        local_settings({"ELT_SERVER_LOST_SECONDS": "1"})
    assert "ELT_SERVER_LOST_SECONDS" in str(refused.value)
    assert "\n" not in str(refused.value)
