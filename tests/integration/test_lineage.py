"""Lineage: a pipeline run sends OpenLineage events to the configured lineage server, and the
graph built from them holds exactly the shipped project's edges (Airbyte stream -> raw table
-> staging -> marts); a lineage server that is down never fails the run; `elt lineage` prints
a table's lineage and writes a page a browser draws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from orchestration.lineage.graph import Graph
from orchestration.lineage.transport import flush_all
from tests.conftest import flow_run_artifacts, wait_until
from tests.fakes.airbyte_server import FakeAirbyte
from tests.integration.conftest import put
from tests.lineage_checks import (
    STREAMS,
    LineageServer,
    labelled_edges,
    schema_errors,
    shipped_edges,
)

CONNECTION = "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
EXPECTED = shipped_edges(CONNECTION)


@pytest.fixture
def lineage_server() -> Iterator[LineageServer]:
    server = LineageServer()
    yield server
    server.close()


def run_pipeline(warehouse: Path, fake: FakeAirbyte, monkeypatch, **env: str):
    from orchestration.flows.full_pipeline import full_pipeline

    fake.add_connection(CONNECTION)
    settings = {
        "AIRBYTE_SERVER_URL": fake.url,
        "AIRBYTE_CONNECTION_ID": CONNECTION,
        "AIRBYTE_POLL_INTERVAL_SECONDS": "0.05",
        "DUCKDB_PATH": str(warehouse),
        **env,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return full_pipeline(return_state=True)


def test_a_run_sends_lineage_whose_graph_is_the_projects_exactly(
    warehouse, lineage_server, monkeypatch, cli, browser
):
    with FakeAirbyte() as fake:
        state = run_pipeline(warehouse, fake, monkeypatch, OPENLINEAGE_URL=lineage_server.url)
    assert state.is_completed(), state.message
    assert flush_all()
    events = lineage_server.events
    assert schema_errors(events) == []
    graph = Graph.from_events(events)

    found = labelled_edges(graph)
    assert len(found & EXPECTED) / len(found) == 1.0, found - EXPECTED  # precision
    assert len(found & EXPECTED) / len(EXPECTED) == 1.0, EXPECTED - found  # recall
    # one identity per table: the sync's outputs are the very datasets dbt reads
    tables = {key for key in graph.nodes if not key[0].startswith("airbyte://")}
    assert {namespace for namespace, _ in tables} == {f"duckdb://{warehouse.resolve()}"}
    assert {name for _, name in tables} >= {f"warehouse.raw.{s}" for s in STREAMS}

    parents = {e["run"]["facets"]["parent"]["job"]["name"] for e in events}
    assert parents == {"airbyte-sync", "dbt-transform", "freshness-check"}  # Prefect's flows
    synced = [e for e in events if e["job"]["name"].startswith("airbyte.")]
    assert {e["eventType"] for e in synced} == {"START", "COMPLETE"}
    (users,) = [e["outputs"][0] for e in synced if e["outputs"][0]["name"].endswith(".users")][:1]
    fields = [f["name"] for f in users["facets"]["schema"]["fields"]]  # the raw table's columns
    assert {"id", "email", "_airbyte_raw_id", "_airbyte_extracted_at"} <= set(fields)
    freshness = [e for e in events if e["job"]["name"] == "elt.freshness"]
    assertions = {
        i["name"].rsplit(".", 1)[-1]: i["inputFacets"]["dataQualityAssertions"]["assertions"]
        for i in freshness[-1]["inputs"]
    }
    assert set(assertions) == {*STREAMS, "daily_revenue"}
    assert all(a[0]["assertion"] == "freshness" and a[0]["success"] for a in assertions.values())

    (artifact,) = flow_run_artifacts(state.state_details.flow_run_id, "lineage-graph")
    for a, b in EXPECTED:  # the run's own graph, in Prefect
        assert f"| {a} | {b} | " in artifact["data"], artifact["data"]
    run_ids = {e["run"]["runId"] for e in events}
    assert all(f"`{run_id}`" in artifact["data"] for run_id in run_ids)  # and back to them

    dim_users = f"duckdb://{warehouse.resolve()}/warehouse.analytics.dim_users"

    def events_of(name: str, asset: str) -> list[dict]:  # Prefect's own asset events
        body = {"filter": {"event": {"name": [name]}, "any_resource": {"id": [asset]}},
                "limit": 50}  # fmt: skip
        with get_client(sync_client=True) as client:
            return client.request("POST", "/events/filter", json=body).json()["events"]

    def materialized() -> list[dict]:
        return events_of("prefect.asset.materialization.succeeded", dim_users)

    wait_until(lambda: materialized(), "dim_users's asset materialization event", timeout=60)
    (event,) = materialized()[:1]
    assert event["resource"]["prefect.resource.name"] == "warehouse.analytics.dim_users"
    related = {r["prefect.resource.id"]: r["prefect.resource.role"] for r in event["related"]}
    assert related["elt-orchestration"] == "asset-materialized-by"
    assert {key.rsplit(".", 1)[-1] for key in related if "warehouse.analytics" in key} == {
        "fct_purchases", "stg_users"
    }  # fmt: skip
    stg_users = dim_users.replace("dim_users", "stg_users")  # an upstream: referenced, as
    wait_until(  # @materialize reports the assets a materialization read
        lambda: events_of("prefect.asset.referenced", stg_users), "stg_users referenced", 60
    )

    log = warehouse.parent / "events.jsonl"  # the same events as a file transport keeps them
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    page = warehouse.parent / "lineage.html"
    shown = cli("lineage", "fct_purchases", "--events", str(log), "--html", str(page),
                cwd=warehouse.parent)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("analytics.fct_purchases (last written ")
    assert f"        {CONNECTION} / purchases" in lines  # three levels up: its stream
    assert "    analytics.daily_revenue (last written " in "\n".join(lines)

    drawn = browser.new_page()
    drawn.goto(page.as_uri())
    assert drawn.locator("g.node").count() == len(graph.nodes) == 13
    assert drawn.locator("path.edge").count() == len(EXPECTED)
    box = drawn.locator("g.node").first.bounding_box()
    assert box and box["width"] > 100  # drawn, not just present
    drawn.close()


def test_elt_lineage_without_events_says_how_to_get_them(cli, tmp_path):
    missing = tmp_path / "nothing.jsonl"
    ran = cli("lineage", "--events", str(missing), cwd=tmp_path)
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        f"error: no lineage events at {missing}: run the pipeline first (every run keeps its "
        "events there on the embedded default or with an OpenLineage transport configured; "
        'with an Airbyte server, configure one: README "Lineage"), or pass --events FILE'
    ]


def test_a_sensor_batch_is_the_input_of_the_run_it_was_handed_to(s3, bucket, monkeypatch):
    """The landing files are inputs of the very flow run the sensor started for them."""
    from prefect import flow

    from orchestration.flows.s3_sensor import s3_sensor
    from orchestration.lineage import record

    @flow(name="lineage-landing-consumer")
    def consumer(s3_keys: list[str]) -> int:
        return len(s3_keys)

    name = f"landing-{bucket[-8:]}"
    consumer.to_deployment(name=name).apply()
    put(s3, bucket, "inbound/a.csv", "inbound/b.csv")
    monkeypatch.setenv("S3_BUCKET", bucket)
    monkeypatch.setenv("S3_PREFIX", "inbound/")
    monkeypatch.setenv("S3_SENSOR_DEPLOYMENT", f"lineage-landing-consumer/{name}")
    with record.collecting() as recorded:
        stats = s3_sensor(max_polls=1)
    assert (stats.objects, stats.errors) == (2, 0)

    assert schema_errors(recorded) == []
    (landed,) = [e for e in recorded if e["eventType"] == "COMPLETE"]
    assert {(i["namespace"], i["name"]) for i in landed["inputs"]} == {
        (f"s3://{bucket}", "inbound/a.csv"), (f"s3://{bucket}", "inbound/b.csv")
    }  # fmt: skip
    with get_client(sync_client=True) as client:
        (run,) = client.request(
            "POST", "/flow_runs/filter", json={"deployments": {"name": {"any_": [name]}}}
        ).json()  # fmt: skip
    parent = landed["run"]["facets"]["parent"]
    assert parent["job"]["name"] == "lineage-landing-consumer"
    assert parent["run"]["runId"] == run["id"]
