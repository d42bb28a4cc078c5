"""Schema drift on the shipped project's manifest: each kind of change classified, and the
held-back set equal to what dbt's own selector `source:<source>.<table>+` selects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.checks.drift import (
    ChangesLimit,
    compare,
    compatible,
    exclusions,
    held_back,
    source_tables,
    values_changed,
)
from orchestration.dbt.runner import exported_env
from tests.conftest import REPO

PROJECT = REPO / "dbt_project"


def dbt(*args: str, target: Path) -> object:
    from dbt.cli.main import dbtRunner

    common = ["--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    with exported_env({"DUCKDB_PATH": str(target / "warehouse.duckdb")}):
        result = dbtRunner().invoke(
            [*args, *common, "--target-path", str(target), "--log-level", "none"]
        )
    assert result.success, result.exception
    return result.result


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("drift-target")
    dbt("parse", target=target)
    return {"manifest": json.loads((target / "manifest.json").read_text()), "target": target}


# What the raw users table holds today, as information_schema says it (DuckDB's types).
USERS = {
    "id": "BIGINT", "name": "VARCHAR", "email": "VARCHAR", "age": "BIGINT",
    "gender": "VARCHAR", "nationality": "VARCHAR", "occupation": "VARCHAR",
    "created_at": "TIMESTAMP WITH TIME ZONE", "updated_at": "TIMESTAMP WITH TIME ZONE",
    "_airbyte_raw_id": "VARCHAR", "_airbyte_extracted_at": "TIMESTAMP WITH TIME ZONE",
    "_airbyte_meta": "JSON",
}  # fmt: skip


def users_table(manifest: dict):
    (users,) = [t for t in source_tables(manifest) if t.name == "users"]
    return users


@pytest.mark.parametrize(
    ("before", "now", "ok"),
    [
        ("INTEGER", "BIGINT", True),
        ("NUMBER(38,0)", "FLOAT", True),
        ("DATE", "TIMESTAMP", True),
        ("BIGINT", "VARCHAR", False),
        ("TIMESTAMP WITH TIME ZONE", "VARCHAR", False),
        ("VARCHAR", "BIGINT", False),
    ],
)
def test_a_type_change_breaks_only_across_families(before, now, ok):
    assert compatible(before, now) is ok


def test_each_source_table_knows_its_readers_and_the_columns_they_use(manifest):
    users = users_table(manifest["manifest"])
    assert users.readers == ("stg_users",)
    assert {"id", "name", "email", "age", "updated_at"} <= users.used
    assert users.declared == ("id",)
    assert users.selector == "source:airbyte.users"


def test_each_kind_of_change_is_classified(manifest):
    users = users_table(manifest["manifest"])
    dropped = {k: v for k, v in USERS.items() if k != "email"}
    (change,) = compare(users, dropped, USERS)
    assert (change.kind, change.column, change.breaking) == ("column dropped", "email", True)
    assert change.describe() == "airbyte.users: column dropped email, used by stg_users"

    renamed = {**dropped, "email_address": "VARCHAR"}
    kinds = {(c.kind, c.column, c.breaking) for c in compare(users, renamed, USERS)}
    assert kinds == {("column dropped", "email", True), ("column added", "email_address", False)}

    retyped = {**USERS, "age": "VARCHAR"}
    (change,) = compare(users, retyped, USERS)
    assert (change.kind, change.old_type, change.new_type, change.breaking) == (
        "type changed", "BIGINT", "VARCHAR", True
    )  # fmt: skip

    (change,) = compare(users, None, USERS)
    assert (change.kind, change.breaking) == ("table missing", True)

    (change,) = compare(users, {**USERS, "loyalty_tier": "VARCHAR"}, USERS)
    assert (change.kind, change.breaking) == ("column added", False)

    unused = {**USERS, "legacy_flag": "BOOLEAN"}  # in the snapshot, read by no model
    (change,) = compare(users, USERS, unused)
    assert (change.kind, change.column, change.breaking) == ("column dropped", "legacy_flag", False)

    assert compare(users, USERS, USERS) == []  # nothing changed: nothing said
    assert compare(users, USERS, None) == []  # no snapshot yet: the declared `id` is there


def test_the_held_back_set_is_what_dbt_selects_downstream_of_the_table(manifest):
    users = users_table(manifest["manifest"])
    changes = compare(users, None, USERS)
    held = held_back(manifest["manifest"], changes)
    (selector,) = exclusions(source_tables(manifest["manifest"]), changes)
    assert selector == "source:airbyte.users+"

    listed = dbt(
        "ls", "--select", selector, "--resource-type", "all",
        "--output", "json", "--output-keys", "unique_id", target=manifest["target"],
    )  # fmt: skip
    by_dbt = {json.loads(line)["unique_id"] for line in listed} - {users.unique_id}
    assert set(held) == by_dbt
    assert {"model.elt.stg_users", "model.elt.dim_users"} <= set(held)
    assert not any(
        "purchases" in uid or "products" in uid for uid in held if uid.startswith("model.")
    )


def test_a_source_declared_on_drift_warn_is_held_back_but_does_not_fail(manifest):
    from orchestration.checks.drift import DriftReport

    declared = json.loads(json.dumps(manifest["manifest"]))  # a copy, its yml saying `warn`
    declared["sources"]["source.elt.airbyte.users"]["meta"] = {"on_drift": "warn"}
    users = users_table(declared)
    assert users.on_drift == "warn"
    changes = compare(users, None, USERS)
    report = DriftReport(
        "local", changes, held_back(declared, changes), warn_only={"airbyte.users"}
    )
    assert report.breaking == changes and report.failing == []
    assert "model.elt.stg_users" in report.held_back


def test_values_airbyte_nulled_over_the_declared_share_break_what_reads_them(manifest):
    from orchestration.checks.drift import DriftReport

    users = users_table(manifest["manifest"])  # the shipped yml: 5%, severity error
    assert users.limit_for("email") == ChangesLimit(0.05, "error")
    assert values_changed(users, 1000, {"email": 50}) == []  # 5% is within the limit
    (change,) = values_changed(users, 1000, {"email": 300, "not_read_by_anyone": 1})
    assert (change.kind, change.column, change.breaking, change.share) == (
        "values changed", "email", True, 0.3
    )  # fmt: skip
    assert change.describe() == (
        "airbyte.users: 30% of email values nulled or truncated by Airbyte"
        " (_airbyte_meta.changes; limit 5%), used by stg_users"
    )
    report = DriftReport("local", [change], held_back(manifest["manifest"], [change]))
    assert "model.elt.dim_users" in report.held_back
    assert "raise max_share in the source's meta.airbyte_changes" in str(report.failure())
    assert "elt drift accept" not in str(report.failure())  # accepting a schema fixes no values


def test_a_column_may_declare_its_own_limit_and_severity(manifest):
    from orchestration.checks.drift import DriftReport

    declared = json.loads(json.dumps(manifest["manifest"]))
    columns = declared["sources"]["source.elt.airbyte.users"]["columns"]
    limit = {"max_share": 0.5, "severity": "warn"}
    columns["email"] = {"name": "email", "meta": {"airbyte_changes": limit}}
    users = users_table(declared)
    assert values_changed(users, 10, {"email": 3}) == []  # 30% < its own 50%
    (change,) = values_changed(users, 10, {"email": 6})
    assert (change.breaking, change.warning) == (False, True)
    report = DriftReport("local", [change])
    assert report.failing == [] and report.warnings == [change]


@pytest.mark.parametrize(
    "limit",
    [{"max_share": "lots"}, {"max_share": 1.5}, {"max_share": 0.1, "severity": "loud"}],
)
def test_a_malformed_limit_is_one_line_naming_where_and_the_form(manifest, limit):
    declared = json.loads(json.dumps(manifest["manifest"]))
    declared["sources"]["source.elt.airbyte.users"]["config"]["meta"] = {"airbyte_changes": limit}
    with pytest.raises(ValueError) as error:
        source_tables(declared)
    assert str(error.value) == (
        "source airbyte.users: meta.airbyte_changes must be {max_share: <0..1>, severity:"
        f" error|warn}}, not {limit!r}"
    )
