"""prefect.yaml and the schedule constants cannot drift apart."""

import yaml

from orchestration.schedules.daily import DAILY_SCHEDULE, DAILY_TIMEZONE
from tests.conftest import REPO


def deployments() -> dict[str, dict]:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


def test_daily_cron_matches_the_schedule_constant():
    (schedule,) = deployments()["daily-full-pipeline"]["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (DAILY_SCHEDULE, DAILY_TIMEZONE)


def test_every_deployment_points_at_an_existing_flow():
    import importlib

    for name, deployment in deployments().items():
        path, function = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, function)), name
        assert deployment["work_pool"]["name"] == "elt-process"


def test_the_sensor_runs_one_at_a_time_and_never_piles_up():
    sensor = deployments()["s3-sensor"]
    assert sensor["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert sensor["parameters"]["max_runtime"] > 0
