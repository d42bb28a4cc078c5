"""The blocks are the configuration models: the masked rendering, comparison and the checks
registration adds, without a server."""

import pytest
from pydantic import SecretStr

from orchestration.blocks.register import BLOCK_CLASSES, field_values, validated_blocks
from orchestration.blocks.saved import BLOCK_TYPES, describe
from orchestration.config import AirbyteConnection, S3SensorConfig
from orchestration.errors import ConfigError
from tests.conftest import apply_env


def test_a_described_block_shows_that_a_secret_is_set_never_its_value():
    block = AirbyteConnection(
        server_url="https://api.airbyte.com/v1",
        connection_ids=["a", "b"],
        client_id="client",
        client_secret=SecretStr("s3cr3t-value"),
    )
    text = describe("elt-airbyte-connection/prod", block)
    assert "s3cr3t-value" not in text
    assert "client_secret=********" in text
    assert "connection_ids=a,b" in text
    assert "api_token" not in text  # empty secrets are left out
    assert block.auth_mode == "client_credentials"


def test_the_s3_block_is_prefect_aws_s3bucket_and_its_credentials_make_the_client(
    tmp_path, monkeypatch
):
    apply_env(
        monkeypatch,
        tmp_path,
        S3_BUCKET="landing",
        AWS_ACCESS_KEY_ID="AKIA",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_SESSION_TOKEN="token",
        AWS_REGION="eu-west-1",
        AWS_ENDPOINT_URL="http://m:9000",
    )
    from orchestration.config import load_config

    s3 = load_config().s3
    assert type(s3.bucket).__module__.startswith("prefect_aws")
    client = s3.client("s3")
    assert client.meta.endpoint_url == "http://m:9000"
    assert client.meta.region_name == "eu-west-1"
    # temporary credentials reach the client, but registration refuses to save them
    assert s3.credentials.get_boto3_session().get_credentials().token == "token"
    with pytest.raises(ConfigError, match="AWS_SESSION_TOKEN: invalid for a block"):
        validated_blocks()


def test_equal_values_compare_equal():
    """Blocks loaded from the server compare so too: tests/integration/test_deployments.py
    registers twice and reads every block unchanged."""
    saved = AirbyteConnection(connection_ids=["a"])
    assert field_values(saved) == field_values(AirbyteConnection(connection_ids=["a"]))
    assert field_values(saved) != field_values(AirbyteConnection(connection_ids=["b"]))


def test_lists_are_comma_separated_in_variables():
    block = AirbyteConnection.model_validate({"connection_ids": " a, b ,,c", "streams": "x"})
    assert (block.connection_ids, block.streams) == (["a", "b", "c"], ["x"])
    assert S3SensorConfig().sensor_lease_seconds == 60


def test_the_example_env_as_copied_registers_without_snowflake(tmp_path, monkeypatch):
    """`.env.example` spells out defaults (SNOWFLAKE_PORT=443, SNOWFLAKE_PROTOCOL=https): a
    default is not a setting, so nothing counts as "Snowflake configured"."""
    import shutil

    from tests.conftest import REPO

    apply_env(monkeypatch, tmp_path)
    for name in ("DBT_PROJECT_DIR", "DUCKDB_PATH", "ELT_HOME", "FAKER_COUNT", "FAKER_SEED"):
        monkeypatch.delenv(name)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    (tmp_path / "dbt_project").symlink_to(REPO / "dbt_project")
    blocks = validated_blocks()
    assert blocks.snowflake is None and blocks.airbyte.embedded

    (tmp_path / ".env").write_text("SNOWFLAKE_PORT=8443\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Snowflake: missing SNOWFLAKE_ACCOUNT"):
        validated_blocks()  # a value that is not the default is a setting: the rest is missing


def test_the_saved_block_types_name_their_classes():
    """`elt blocks show` finds the saved blocks by these slugs before importing any class."""
    assert [cls.get_block_type_slug() for cls in BLOCK_CLASSES] == list(BLOCK_TYPES)
