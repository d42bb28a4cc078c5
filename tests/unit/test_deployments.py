"""prefect.yaml and the schedule constants cannot drift apart."""

import tomllib

import pytest
import yaml

from orchestration.errors import ConfigError
from orchestration.schedules.daily import DAILY_SCHEDULE, DAILY_TIMEZONE
from orchestration.schedules.serve import load_flow, serve_stop_seconds, served_deployments
from tests.conftest import REPO


def deployments() -> dict[str, dict]:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


def test_daily_cron_matches_the_schedule_constant():
    (schedule,) = deployments()["daily-full-pipeline"]["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (DAILY_SCHEDULE, DAILY_TIMEZONE)


def test_every_deployment_points_at_an_existing_flow():
    for name, deployment in deployments().items():
        assert callable(load_flow(deployment["entrypoint"])), name


def test_one_variable_picks_the_pool_of_every_deployment():
    """No deployment names its pool: `prefect deploy` takes PREFECT_DEFAULT_WORK_POOL_NAME,
    `elt-process` from pyproject.toml unless set (`elt-kubernetes` for the Kubernetes pool)."""
    assert all("name" not in d["work_pool"] for d in deployments().values())
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["prefect"]["deployments"]["default_work_pool_name"] == "elt-process"


def test_elt_serve_offers_the_same_deployments_as_prefect_yaml():
    served = {d.name: d for d in served_deployments()}
    assert set(served) == set(deployments())
    daily = served["daily-full-pipeline"]
    (schedule,) = daily.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (DAILY_SCHEDULE, "UTC")
    assert daily.entrypoint == "orchestration/flows/full_pipeline.py:full_pipeline"
    sensor = served["s3-sensor"]
    assert sensor.parameters == {"max_runtime": 3600, "start": "now"}
    assert sensor.concurrency_limit == 1
    assert sensor.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert served["airbyte-sync"].schedules == []
    assert served["backfill"].entrypoint == "orchestration/flows/backfill.py:backfill"


def test_the_sensor_runs_one_at_a_time_and_never_piles_up():
    sensor = deployments()["s3-sensor"]
    assert sensor["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert sensor["parameters"]["max_runtime"] > 0


def test_serve_only_serves_the_named_deployments_and_names_a_typo():
    import pytest

    from orchestration.errors import ConfigError

    served = served_deployments(only=["freshness-check"])
    assert [d.name for d in served] == ["freshness-check"]
    with pytest.raises(ConfigError) as raised:
        served_deployments(only=["daily-pipeline"])
    assert str(raised.value).startswith(
        "--only daily-pipeline: no such deployment in prefect.yaml; choose from "
        "daily-full-pipeline, s3-sensor"
    )


def test_the_serve_stop_deadline_is_a_setting_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv("ELT_SERVE_STOP_SECONDS", "12.5")
    assert serve_stop_seconds() == 12.5
    for bad in ("soon", "0", "nan"):
        monkeypatch.setenv("ELT_SERVE_STOP_SECONDS", bad)
        with pytest.raises(ConfigError) as err:
            serve_stop_seconds()
        message = str(err.value)
        assert message.startswith("invalid configuration: ELT_SERVE_STOP_SECONDS: Input should ")
        assert f"(got '{bad}')" in message and "\n" not in message
