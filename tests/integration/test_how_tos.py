"""docs/how-to.md, done as written: its files go into a copy of the dbt project, its settings
into the environment, its commands run through `elt`; then each is checked where the user
would look (rows in the warehouse, the summary, what the sensor printed, what is served)."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import pytest

from orchestration.lineage.graph import Graph
from orchestration.lineage.transport import flush_all
from tests.conftest import REPO, Running, cli_env, run_elt, scalar
from tests.fakes.airbyte_server import FakeAirbyte
from tests.lineage_checks import LineageServer, labelled_edges, schema_errors, shipped_edges

HOW_TO = REPO / "docs" / "how-to.md"
STEP = re.compile(r"<!-- how-to: (\w+)(?: (\S+))? -->\n```\w*\n(.*?)```", re.S)


def steps(section: str) -> list[tuple[str, str, str]]:
    """The (kind, path, text) steps of the section whose title starts with `section`."""
    parts = HOW_TO.read_text().split("\n## ")
    (part,) = [p for p in parts if p.startswith(section)]
    found = STEP.findall(part)
    assert found, f"no how-to steps under {section!r}"
    return found


def commands(section: str) -> list[list[str]]:
    """The `elt` command lines of a section, as argument lists."""
    out = []
    for kind, _, text in steps(section):
        if kind == "run":
            out += [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("elt ")]
    return out


def apply_files(section: str, project: Path) -> list[Path]:
    written = []
    for kind, path, text in steps(section):
        if kind == "file":
            assert path.startswith("dbt_project/"), path
            target = project / path.removeprefix("dbt_project/")
            target.write_text(text)
            written.append(target)
    return written


def settings(section: str) -> dict[str, str]:
    out = {}
    for kind, _, text in steps(section):
        if kind == "env":
            for line in text.splitlines():
                name, _, value = line.partition("=")
                out[name.strip()] = value.strip()
    return out


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the shipped dbt project, as a user's checkout would hold it."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(
        REPO / "dbt_project", copy, ignore=shutil.ignore_patterns("target", "logs", "gw*")
    )
    return copy


def test_add_a_dbt_model(project, warehouse, cli):
    section = "Add a dbt model"
    assert [p.name for p in apply_files(section, project)] == [
        "product_revenue.sql",
        "product_revenue.yml",
    ]
    env = {"DBT_PROJECT_DIR": str(project), "DUCKDB_PATH": str(warehouse)}
    for args in commands(section):
        ran = cli(*args, cwd=warehouse.parent, **env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "dbt build OK: 1 model, 3 tests" in ran.stdout, ran.stdout

    assert scalar(warehouse, "select count(*) from analytics.product_revenue") == scalar(
        warehouse, "select count(*) from analytics.dim_products"
    )
    assert scalar(warehouse, "select sum(revenue) from analytics.product_revenue") == scalar(
        warehouse,
        "select sum(f.amount) from analytics.fct_purchases f join analytics.dim_products p "
        "using (product_id) where purchase_status = 'purchased'",
    )


def test_pass_vars_to_a_model(project, warehouse, cli):
    env = {"DBT_PROJECT_DIR": str(project), "DUCKDB_PATH": str(warehouse)}
    repeat = "select count(*) from analytics.dim_users where is_repeat_buyer"
    at_least = "select count(*) from analytics.dim_users where purchases >= {}"
    assert scalar(warehouse, repeat) == scalar(warehouse, at_least.format(2))  # the default
    (args,) = commands("Pass `--vars`")
    ran = cli(*args, cwd=warehouse.parent, **env)
    assert ran.returncode == 0, ran.stdout + ran.stderr

    assert scalar(warehouse, repeat) == scalar(warehouse, at_least.format(1))
    assert scalar(warehouse, at_least.format(1)) > scalar(warehouse, at_least.format(2))


def test_add_a_connection_and_its_stream_through_to_a_mart_with_an_sla(project, warehouse, cli):
    """Done as written; the project it leaves, with two connections, has exactly the lineage
    written here by hand (a second project for the lineage check)."""
    section = "Add an Airbyte connection"
    apply_files(section, project)
    env = settings(section)
    ids = env["AIRBYTE_CONNECTION_IDS"].split(",")
    assert env["AIRBYTE_STREAMS"].split(",")[-1] == "reviews"
    with duckdb.connect(str(warehouse)) as db:  # what the new connection loads
        db.execute(
            "create table raw.reviews as select row_number() over () as id, id as product_id, "
            "1 + (id % 5) as rating, uuid()::varchar as _airbyte_raw_id, "
            "now() as _airbyte_extracted_at, '{}' as _airbyte_meta from raw.products"
        )
    lineage = LineageServer()
    with FakeAirbyte() as fake:
        for connection_id in ids:
            fake.add_connection(connection_id)
        fake.connections[ids[1]].streams = ("reviews",)
        env |= {
            "OPENLINEAGE_URL": lineage.url,
            "AIRBYTE_SERVER_URL": fake.url,
            "AIRBYTE_POLL_INTERVAL_SECONDS": "0.05",
            "DBT_PROJECT_DIR": str(project),
            "DUCKDB_PATH": str(warehouse),
        }
        for args in commands(section):
            ran = cli(*args, cwd=warehouse.parent, **env)
            assert ran.returncode == 0, ran.stdout + ran.stderr
        synced = sorted(job.connection_id for job in fake.jobs.values())
    assert synced == sorted(ids)  # one sync job per connection
    for connection_id in ids:
        assert f"from {connection_id}" in ran.stdout, ran.stdout
    freshness = [line for line in ran.stdout.splitlines() if "freshness PASS:" in line]
    assert freshness and "reviews (" in freshness[0] and "product_ratings (" in freshness[0]
    assert scalar(warehouse, "select count(*) from analytics.product_ratings") == scalar(
        warehouse, "select count(*) from analytics.dim_products"
    )
    assert scalar(warehouse, "select sum(reviews) from analytics.product_ratings") == scalar(
        warehouse, "select count(*) from raw.reviews"
    )

    assert flush_all()
    lineage.close()
    assert schema_errors(lineage.events) == []
    expected = shipped_edges(ids[0]) | {
        (f"{ids[1]} / reviews", "raw.reviews"),
        ("raw.reviews", "analytics.stg_reviews"),
        ("analytics.stg_reviews", "analytics.product_ratings"),
        ("analytics.dim_products", "analytics.product_ratings"),
    }
    assert labelled_edges(Graph.from_events(lineage.events)) == expected


def test_run_or_serve_only_the_sensor(s3, s3_endpoint, tmp_path, prefect_api):
    run, serve = commands("Run or serve only the S3 sensor")
    bucket = run[run.index("--bucket") + 1]
    prefix = run[run.index("--prefix") + 1]
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    key = f"{prefix}{uuid.uuid4().hex}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n")

    env = {"PREFECT_API_URL": prefect_api, "AWS_ENDPOINT_URL": s3_endpoint}
    printed = run_elt(*run, "--max-polls", "1", cwd=tmp_path, **env)
    assert printed.returncode == 0, printed.stderr
    assert key in printed.stdout.splitlines()

    started = datetime.now(UTC).isoformat()
    served = Running(*serve, env=cli_env(**env))
    try:
        served.wait_for_line("serving ")
        deployments = httpx.post(f"{prefect_api}/deployments/filter", json={}).json()
        registered = {d["name"] for d in deployments if d["updated"] > started}
    finally:
        code, _, stderr = served.stop(signal.SIGTERM)
    assert registered == {"s3-sensor"}
    assert code == 0, stderr
