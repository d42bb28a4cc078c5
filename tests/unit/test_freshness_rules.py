"""Mart deadlines: a mart must have been built since the deadline before the most recent one."""

from datetime import UTC, datetime

import pytest

from orchestration.checks.freshness import Deadline, mart_deadlines
from orchestration.errors import ConfigError

DAILY_7 = Deadline("daily_revenue", "0 7 * * *", "UTC")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_the_daily_build_before_the_deadline_meets_it_all_day():
    built = at(25, 6, 5)
    for now in (at(25, 6, 30), at(25, 7, 30), at(26, 6, 59)):
        assert DAILY_7.evaluate(built, now).status == "pass", now


def test_a_missed_day_breaches_once_the_next_deadline_passed():
    result = DAILY_7.evaluate(at(24, 6, 5), now=at(25, 7, 30))
    assert result.status == "error" and not result.passed
    assert result.describe() == (
        "daily_revenue (last built 2026-11-24 06:05 UTC, not since 2026-11-24 07:00 UTC)"
    )
    assert DAILY_7.evaluate(None, at(25, 7, 30)).describe() == "daily_revenue (never built)"


def test_the_deadline_is_read_in_its_time_zone():
    """07:00 in New York is 12:00 UTC in November: a build at 11:00 UTC still counts as the
    day's; the check at 11:30 UTC looks back to the day before's 07:00 New York."""
    new_york = Deadline("daily_revenue", "0 7 * * *", "America/New_York")
    assert new_york.window_start(at(25, 11, 30)) == at(23, 12)
    assert new_york.evaluate(at(24, 11, 0), now=at(25, 11, 30)).status == "pass"
    assert new_york.evaluate(at(24, 11, 0), now=at(25, 12, 30)).status == "error"


def test_deadlines_come_from_the_manifest_and_bad_ones_are_named():
    manifest = {
        "nodes": {
            "model.p.a": {
                "resource_type": "model",
                "name": "a",
                "config": {"meta": {"sla": {"deadline_cron": "0 7 * * *"}}},
            },
            "model.p.b": {"resource_type": "model", "name": "b", "config": {"meta": {}}},
            "test.p.c": {"resource_type": "test", "name": "c", "meta": {"sla": {}}},
        }
    }
    assert mart_deadlines(manifest) == [Deadline("a", "0 7 * * *", "UTC")]
    bad_sla = {"meta": {"sla": {"deadline_cron": "7am"}}}
    bad = {"nodes": {"m": {"resource_type": "model", "name": "a", "config": bad_sla}}}
    with pytest.raises(ConfigError, match=r"^model a: meta.sla.deadline_cron '7am' is not a cron"):
        mart_deadlines(bad)


def test_a_threshold_of_a_fraction_of_an_hour_is_counted_in_minutes(tmp_path, monkeypatch):
    """dbt counts whole periods: FRESHNESS_THRESHOLD_HOURS=1.5 is 90 minutes, 25 is 25 hours."""
    import json

    from orchestration.dbt.runner import run_dbt
    from tests.conftest import REPO

    project = REPO / "dbt_project"
    for hours, expected in (("1.5", (90, "minute")), ("25", (25, "hour"))):
        target = tmp_path / hours
        monkeypatch.setenv("DBT_TARGET_PATH", str(target))
        env = {"FRESHNESS_THRESHOLD_HOURS": hours, "DUCKDB_PATH": str(tmp_path / "w.duckdb")}
        args = ["parse", "--project-dir", str(project), "--profiles-dir", str(project)]
        parsed = run_dbt(args, env)
        assert parsed.success, parsed.error
        sources = json.loads((target / "manifest.json").read_text())["sources"]
        (users,) = [s for key, s in sources.items() if key.endswith(".users")]
        error_after = users["freshness"]["error_after"]
        assert (error_after["count"], error_after["period"]) == expected


def test_a_deadline_is_said_in_words():
    from orchestration.checks.freshness import cron_in_words

    assert cron_in_words("0 7 * * *", "UTC") == "07:00 UTC daily"
    assert cron_in_words("30 6 * * 1", "Europe/Paris") == "06:30 Europe/Paris on Mondays"
    assert cron_in_words("*/15 * * * *", "UTC") == "cron '*/15 * * * *' UTC"
