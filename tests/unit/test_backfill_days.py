"""A backfill's range as the user says it and as dbt takes it; what is refused, in one line."""

from __future__ import annotations

from datetime import date

import pytest

from orchestration.dbt.microbatch import Days, TimeModel, check_begin, project_switch, selection
from orchestration.errors import UserError
from tests.conftest import REPO

TODAY = date(2026, 11, 30)
FCT = TimeModel("model.elt.fct_purchases", "fct_purchases", "purchased_at", date(2020, 1, 1),
                "day", '"warehouse"."analytics"."fct_purchases"')  # fmt: skip


def test_march_is_its_31_days_and_dbt_gets_the_day_after_as_its_exclusive_end():
    march = Days(date(2026, 3, 1), date(2026, 3, 31))
    assert len(march) == 31 and str(march) == "2026-03-01..2026-03-31"
    assert list(march)[-1] == date(2026, 3, 31)
    assert march.event_time == ("2026-03-01", "2026-04-01")
    march.check(TODAY)
    check_begin(march, [FCT], selection([]), REPO / "dbt_project")


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (Days(date(2026, 3, 31), date(2026, 3, 1)),
         "--start 2026-03-31 is after --end 2026-03-01: give the first day, then the last "
         "(both are rebuilt)"),
        (Days(date(2026, 12, 1), date(2026, 12, 31)),
         "no day of 2026-12-01..2026-12-31 has begun yet (today is 2026-11-30 UTC): nothing to "
         "rebuild"),
    ],
)  # fmt: skip
def test_a_reversed_or_unbegun_range_is_refused(days, message):
    with pytest.raises(UserError) as error:
        days.check(TODAY)
    assert str(error.value) == message


def test_a_range_before_a_models_begin_or_a_selection_without_one_is_refused():
    with pytest.raises(UserError) as error:
        check_begin(Days(date(2019, 12, 31), date(2020, 1, 5)), [FCT], ["fct_purchases+"], REPO)
    assert str(error.value) == (
        "--start 2019-12-31 is before fct_purchases's begin (2020-01-01): start on or after it "
        "(dbt builds no day before a model's begin)"
    )
    with pytest.raises(UserError) as error:
        check_begin(Days(date(2026, 3, 1), date(2026, 3, 2)), [], ["dim_users+"], REPO)
    assert str(error.value).startswith("the selection 'dim_users+' holds no time-partitioned")


def test_a_selection_takes_what_depends_on_it_and_none_means_every_microbatch_model():
    assert selection([]) == ["config.incremental_strategy:microbatch+"]
    assert selection(["fct_purchases", "tag:daily+"]) == ["fct_purchases+", "tag:daily+"]


def test_a_project_without_one_says_how_to_turn_the_shipped_marts_on(tmp_path):
    """`elt backfill` on the shipped project with its marts switched off (tables): the error
    names the var that makes them time-partitioned; a project without that var gets the
    generic fix."""
    march = Days(date(2026, 3, 1), date(2026, 3, 31))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    settings = (REPO / "dbt_project" / "dbt_project.yml").read_text()
    assert "time_partitioned_marts: true" in settings  # as cloned: on
    (shipped / "dbt_project.yml").write_text(
        settings.replace("time_partitioned_marts: true", "time_partitioned_marts: false")
    )
    with pytest.raises(UserError) as error:
        check_begin(march, [], selection([]), shipped)
    assert str(error.value) == (
        "the dbt project has no time-partitioned model to backfill (dbt's incremental_strategy "
        "'microbatch', by day on an event_time): set the var time_partitioned_marts: true in "
        f"{shipped / 'dbt_project.yml'}, and marts_begin to the first day of its history"
    )
    (tmp_path / "dbt_project.yml").write_text("name: other\nvars:\n  x: 1\n")
    assert project_switch(tmp_path) == ""
    assert project_switch(tmp_path / "missing") == ""
    with pytest.raises(UserError) as error:
        check_begin(march, [], selection([]), tmp_path)
    assert str(error.value).endswith("by day on an event_time): give one that config")
