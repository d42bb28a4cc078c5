"""What a change-driven build selects and reuses: only what new source rows or changed code reach;
everything wherever that is not proven (no earlier build, a newest row not known, changed vars or
project file, a node that would land in another table)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from openlineage.client.serde import Serde

from orchestration.dbt.build_state import BuildState, LastBuilt, block_name
from orchestration.dbt.changes import (
    CHANGED_CODE,
    code_changed,
    day_ranges,
    downstream,
    fingerprint,
    narrow,
    plan_build,
    reused_nodes,
    time_partitioned_models,
)
from orchestration.dbt.whole_marts import with_days
from orchestration.lineage.events import reused_events
from orchestration.lineage.graph import Graph
from orchestration.tasks.touched_days import MAX_DAYS, bounded

USERS = "source.elt.airbyte.users"
PURCHASES = "source.elt.airbyte.purchases"
BEFORE, LATER = "2026-12-01T06:00:00+00:00", "2026-12-02T06:00:00+00:00"


def manifest(**relations: str) -> dict:
    """Models named by keyword, each with its table; plus a test and an ephemeral model."""
    nodes = {
        f"model.elt.{name}": {
            "name": name,
            "resource_type": "model",
            "relation_name": table,
            "config": {"materialized": "table", "enabled": True},
        }
        for name, table in relations.items()
    }
    nodes["model.elt.helper"] = {
        "name": "helper",
        "resource_type": "model",
        "relation_name": None,
        "config": {"materialized": "ephemeral", "enabled": True},
    }
    nodes["test.elt.not_null_dim_users"] = {"name": "not_null", "resource_type": "test"}
    return {"nodes": nodes, "sources": {USERS: {}, PURCHASES: {}}}


CURRENT = manifest(dim_users='"w"."analytics"."dim_users"', fct='"w"."analytics"."fct"')


def state(sources: dict[str, str | None], built: dict | None = None) -> BuildState:
    return BuildState("same", sources, {}, json.dumps(built or CURRENT))


def test_the_first_build_of_a_target_builds_all():
    plan = plan_build(None, {USERS: LATER}, "same", CURRENT)
    assert plan.select is None
    assert plan.reason.startswith("no complete build of this target is recorded yet")


def test_only_the_sources_with_newer_rows_are_selected_with_any_changed_code():
    previous = state({USERS: BEFORE, PURCHASES: BEFORE})
    plan = plan_build(previous, {USERS: LATER, PURCHASES: BEFORE}, "same", CURRENT)
    assert plan.select == ["source:elt.airbyte.users+", CHANGED_CODE]
    assert plan.changed_sources == (USERS,)
    assert plan.needs_state
    assert "airbyte.users" in plan.reason


def test_a_source_whose_columns_changed_is_changed_whatever_its_rows():
    previous = state({USERS: LATER, PURCHASES: BEFORE})
    plan = plan_build(
        previous, {USERS: LATER, PURCHASES: BEFORE}, "same", CURRENT, ["airbyte.users"]
    )
    assert plan.changed_sources == (USERS,)
    assert plan.reason.startswith("new rows or columns in airbyte.users since")


def test_nothing_new_selects_only_changed_code():
    previous = state({USERS: LATER, PURCHASES: BEFORE})
    plan = plan_build(previous, {USERS: LATER, PURCHASES: BEFORE}, "same", CURRENT)
    assert plan.select == [CHANGED_CODE]
    assert plan.reason.startswith("no source has new rows")


def test_a_source_whose_newest_row_is_not_known_now_or_then_counts_as_changed():
    previous = state({USERS: None, PURCHASES: BEFORE})  # e.g. no loaded_at_field then
    plan = plan_build(previous, {USERS: LATER, PURCHASES: None}, "same", CURRENT)
    assert plan.changed_sources == (PURCHASES, USERS)
    new_source = plan_build(state({}), {USERS: BEFORE}, "same", CURRENT)  # added since
    assert new_source.changed_sources == (USERS,)


def test_changed_vars_or_project_file_or_dbt_version_build_all(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("vars: {days: 1}\n")
    first = fingerprint(tmp_path, "{marts_whole: true}", "1.10.0")
    assert first == fingerprint(tmp_path, "{marts_whole: true}", "1.10.0")
    assert first != fingerprint(tmp_path, "{marts_whole: false}", "1.10.0")
    assert first != fingerprint(tmp_path, "{marts_whole: true}", "1.11.0")
    (tmp_path / "dbt_project.yml").write_text("vars: {days: 2}\n")
    moved = fingerprint(tmp_path, "{marts_whole: true}", "1.10.0")
    assert moved != first
    previous = BuildState(first, {USERS: LATER}, {}, json.dumps(CURRENT))
    plan = plan_build(previous, {USERS: LATER}, moved, CURRENT)
    assert plan.select is None
    assert "vars, dbt_project.yml or dbt's version changed" in plan.reason


def test_a_model_built_into_another_table_now_builds_all():
    elsewhere = manifest(dim_users='"w"."dev_schema"."dim_users"', fct='"w"."analytics"."fct"')
    plan = plan_build(state({USERS: LATER}), {USERS: LATER}, "same", elsewhere)
    assert plan.select is None
    assert plan.reason == "dim_users is built into another table now: building all"


def test_the_users_own_selection_is_intersected_with_the_changes():
    plan = plan_build(state({USERS: BEFORE}), {USERS: LATER}, "same", CURRENT)
    assert narrow(["tag:daily fct"], plan) == [
        "tag:daily,source:elt.airbyte.users+",
        f"tag:daily,{CHANGED_CODE}",
        "fct,source:elt.airbyte.users+",
        f"fct,{CHANGED_CODE}",
    ]
    assert narrow([], plan) == plan.select
    assert narrow(["fct"], plan_build(None, {}, "same", CURRENT)) == ["fct"]


def test_reused_nodes_are_the_built_kinds_not_built_now_with_their_last_build():
    last = LastBuilt("2026-12-01T06:00:00+00:00", "run-1")
    previous = BuildState("same", {}, {"model.elt.fct": last}, json.dumps(CURRENT))
    reused = reused_nodes(CURRENT, {"model.elt.dim_users", "test.elt.x"}, previous)
    assert [(r.name, r.last_built) for r in reused] == [("fct", last)]  # no test, no ephemeral
    assert reused[0].as_row() == {
        "node": "fct",
        "type": "model",
        "last_built_at": last.at,
        "by_flow_run": "run-1",
    }


def test_the_state_survives_its_round_trip_and_each_warehouse_has_its_own():
    built = BuildState("f", {USERS: LATER}, {"model.elt.fct": LastBuilt(LATER, "r")}, "{}" * 999)
    assert BuildState.from_json(built.to_json()) == built
    assert len(built.to_json()) < 1000  # the manifest is kept compressed
    one, other = block_name("Local", "duckdb:/a.duckdb"), block_name("Local", "duckdb:/b.duckdb")
    assert one != other and one.startswith("elt-build-state-local-")


def test_reused_models_are_reused_in_the_lineage_graph_with_their_last_build():
    datasets = {("mart", "fct"): ("duckdb://w", "w.analytics.fct")}
    events = reused_events([("fct", LATER, "run-1"), ("gone", LATER, "")], datasets, None)
    graph = Graph.from_events(json.loads(Serde.to_json(e)) for e in events)
    node = graph.nodes[("duckdb://w", "w.analytics.fct")]
    assert (node.outcome, node.written_at) == ("reused", LATER)
    assert len(graph.nodes) == 1  # a model without a dataset is left out, not guessed
    facet = json.loads(Serde.to_json(events[-1]))["inputs"][0]["inputFacets"]["eltReused"]
    assert facet["lastBuiltByFlowRun"] == "run-1"


def days_project(fct_sql: str = "select 1", helper_sql: str = "v1") -> dict:
    """stg -> fct (time-partitioned) -> daily (time-partitioned); users -> dim."""

    def model(name: str, checksum: str, parents: list[str], macros: list[str]) -> dict:
        return {
            "name": name,
            "resource_type": "model",
            "checksum": {"name": "sha256", "checksum": checksum},
            "config": {"materialized": "table"},
            "depends_on": {"nodes": parents, "macros": macros},
        }

    tp = "macro.elt.time_partitioned"
    nodes = {
        "model.elt.stg": model("stg", "s", [PURCHASES], ["macro.elt.helper"]),
        "model.elt.fct": model("fct", fct_sql, ["model.elt.stg"], [tp]),
        "model.elt.daily": model("daily", "d", ["model.elt.fct"], [tp]),
        "model.elt.dim": model("dim", "u", [USERS], []),
    }
    parents = {uid: n["depends_on"]["nodes"] for uid, n in nodes.items()}
    children: dict[str, list[str]] = {USERS: [], PURCHASES: []}
    for uid, ups in parents.items():
        children.setdefault(uid, [])
        for up in ups:
            children.setdefault(up, []).append(uid)
    macros = {tp: {"macro_sql": "tp"}, "macro.elt.helper": {"macro_sql": helper_sql}}
    return {"nodes": nodes, "parent_map": parents, "child_map": children, "macros": macros}


def test_the_time_partitioned_marts_are_those_built_by_the_macro_and_found_downstream():
    project = days_project()
    assert time_partitioned_models(project) == {"model.elt.fct", "model.elt.daily"}
    assert downstream(project, [PURCHASES]) == {"model.elt.stg", "model.elt.fct", "model.elt.daily"}
    assert downstream(project, [USERS]) == {"model.elt.dim"}


def test_a_mart_whose_code_or_upstream_code_or_macro_changed_is_not_rebuilt_by_days():
    before = days_project()
    assert not code_changed(before, days_project(), "model.elt.daily")
    assert code_changed(before, days_project(fct_sql="select 2"), "model.elt.daily")  # upstream
    assert code_changed(before, days_project(helper_sql="v2"), "model.elt.fct")  # a macro
    assert not code_changed(before, days_project(fct_sql="select 2"), "model.elt.dim")


def test_days_read_as_runs_of_consecutive_days_and_the_days_var_joins_the_builds_vars():
    days = ["2026-10-29", "2019-05-02", "2026-10-27", "2026-10-28", "2026-11-02"]
    assert day_ranges(days) == "2019-05-02, 2026-10-27..2026-10-29, 2026-11-02"
    assert day_ranges([]) == "none"
    assert with_days({"marts_whole": True}, ["2019-05-02"]) == {
        "marts_whole": True,
        "marts_days": ["2019-05-02"],
    }
    assert with_days("{a: 1}", []) == {"a": 1, "marts_days": []}
    assert with_days("[not, a, mapping]", ["2019-05-02"]) == "[not, a, mapping]"


def test_so_many_days_touched_that_the_marts_are_built_whole():
    days = [str(date(2003, 1, 1) + timedelta(days=i)) for i in range(MAX_DAYS + 1)]
    assert bounded(days[:MAX_DAYS]).days == days[:MAX_DAYS]
    whole = bounded(days)
    assert whole.days is None
    assert whole.reason == f"the new rows touch {MAX_DAYS + 1} days: marts built whole"
