"""Integration fixtures: the session's Prefect API for every test; for the S3 sensor, a moto
server (S3 and SQS over real HTTP) and a recorder of delivered batches."""

from __future__ import annotations

import os
import uuid

import pytest

from orchestration.config import S3SensorConfig
from tests.conftest import cli_env
from tests.fakes.s3 import moto_server
from tests.servers import fresh_database
from tests.servers import prefect_server as start_prefect_server
from tests.system import debian_program


@pytest.fixture(autouse=True)
def _prefect_api_for_integration_tests(request: pytest.FixtureRequest) -> str | None:
    """Flows run against the session's temporary Prefect API, never a per-call ephemeral one.
    A module of plain functions says `NEEDS_PREFECT_API = False` and starts none."""
    if getattr(request.module, "NEEDS_PREFECT_API", True) is False:
        return None
    return request.getfixturevalue("prefect_api")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory, postgres):
    """A real `prefect server start` (all services: scheduler, triggers, actions; a PostgreSQL
    database) for the session; its scheduler looks for deployments to schedule every 5 s
    instead of 60."""
    settings = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5", **fresh_database(postgres)}
    home = tmp_path_factory.mktemp("prefect-home")
    with start_prefect_server(home, cli_env(), settings) as env:
        yield env


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return aws_client("s3")


@pytest.fixture
def sqs(s3):
    return aws_client("sqs")


def aws_client(service: str):
    """A client made as the sensor makes it: the S3 configuration read from the environment."""
    values, _ = S3SensorConfig.env.read(os.environ)
    return S3SensorConfig.model_validate(values).client(service)


@pytest.fixture
def bucket(s3) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


class Recorder:
    """The downstream hook: records each batch (keys) and its idempotency key."""

    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.keys: list[str] = []
        self.fail_times = fail_times

    def __call__(self, batch, idempotency_key: str) -> str:
        self.keys.append(idempotency_key)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("downstream unavailable")
        self.batches.append([o.key for o in batch])
        return "recorded"

    @property
    def delivered(self) -> list[str]:
        return [k for batch in self.batches for k in batch]


def put(s3, bucket: str, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=f"data of {key}".encode())


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system packages (installed here when missing, as root),
    driven by Playwright."""
    chromium = debian_program("chromium", "chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is needed: apt-get install chromium")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()
