"""A build given no days builds the shipped project's time-partitioned marts whole: only that
project's switch turns it on, and a build's own vars are kept and have the last word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration.dbt.whole_marts import whole_marts_vars
from tests.conftest import REPO


@pytest.fixture
def shipped(tmp_path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "dbt_project" / "dbt_project.yml", project)
    return project


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (None, {"marts_whole": True}),
        ({"days": 3}, {"days": 3, "marts_whole": True}),
        ("{days: 3}", {"days": 3, "marts_whole": True}),  # YAML text, as dbt reads it
    ],
)
def test_the_shipped_project_as_cloned_builds_its_marts_whole(shipped, given, sent):
    assert whole_marts_vars(shipped, given) == sent


@pytest.mark.parametrize(
    "given",
    [
        {"marts_whole": False},  # the user asks for dbt's own microbatch run
        "{marts_whole: false}",
        {"time_partitioned_marts": False},  # ... or for tables
        "{not yaml: [",  # dbt refuses it, in its own words
        "[1, 2]",
    ],
)
def test_a_build_whose_vars_decide_is_sent_as_given(shipped, given):
    assert whole_marts_vars(shipped, given) == given


def test_any_other_project_is_built_as_dbt_builds_it(tmp_path, shipped):
    settings = shipped / "dbt_project.yml"
    settings.write_text(settings.read_text().replace("marts: true", "marts: false"))
    assert whole_marts_vars(shipped, None) is None
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "dbt_project.yml").write_text("name: jaffle_shop\nversion: '1.0'\n")
    assert whole_marts_vars(foreign, {"days": 3}) == {"days": 3}
    assert whole_marts_vars(tmp_path / "missing", None) is None
