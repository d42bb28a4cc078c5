"""Block <-> settings mapping and the masked rendering, without a server."""

import pytest
from prefect_aws import AwsCredentials
from pydantic import SecretStr

from orchestration.blocks import mapping
from orchestration.blocks.connections import AirbyteConnection
from orchestration.blocks.register import describe, field_values, missing_or_invalid
from orchestration.errors import ConfigError
from orchestration.settings import Settings


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
    assert block.auth == "client_credentials"


def test_settings_round_trip_through_the_aws_block():
    settings = Settings(
        aws_access_key_id="AKIA", aws_secret_access_key="secret", aws_endpoint_url="http://m:9000"
    )
    overrides = mapping._aws_overrides(mapping.aws_block(settings))
    assert overrides["aws_access_key_id"] == "AKIA"
    assert overrides["aws_secret_access_key"].get_secret_value() == "secret"
    assert overrides["aws_endpoint_url"] == "http://m:9000"


def test_s3_credentials_the_sensor_cannot_honour_are_refused_not_ignored():
    with pytest.raises(ConfigError, match="assume_role_arn, which the sensor does not use"):
        mapping._aws_overrides(AwsCredentials(assume_role_arn="arn:aws:iam::1:role/x"))


def test_equal_values_compare_equal_whatever_the_block_metadata():
    saved = AirbyteConnection(connection_ids=["a"])
    saved._block_document_name = "prod"
    assert field_values(saved) == field_values(AirbyteConnection(connection_ids=["a"]))
    assert field_values(saved) != field_values(AirbyteConnection(connection_ids=["b"]))


def test_temporary_credentials_reach_the_client_but_never_a_block():
    settings = Settings(
        aws_access_key_id="ASIA", aws_secret_access_key="secret", aws_session_token="token"
    )
    session = mapping.aws_block(settings).get_boto3_session()
    assert session.get_credentials().token == "token"
    assert any(p.startswith("AWS_SESSION_TOKEN (invalid") for p in missing_or_invalid(settings))
