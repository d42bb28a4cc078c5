import pytest


@pytest.fixture(autouse=True)
def _prefect_api_for_every_integration_test(prefect_api: str) -> str:
    """Flows run against the session's temporary Prefect API, never a per-call ephemeral one."""
    return prefect_api
