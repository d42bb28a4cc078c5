"""`make parity`'s lineage row: the edges each side's graph holds for the shipped project, one
connection syncing its three streams, against the edges written by hand
(`tests/lineage_checks.py`).

Ours: the OpenLineage events of a `full_pipeline` run (the fake Airbyte server, a warehouse
whose raw tables an embedded sync wrote). Dagster's: the asset graph of `@dbt_assets` plus
`load_airbyte_asset_specs` on the same fake server, default translators
(parity/dagster_lineage.py). A Dagster asset is a table, so its "stream -> raw table" edge is
the Airbyte asset itself; it counts as the project's edge only when that asset is the node dbt's
source reads (else Dagster holds two nodes for one table, and the edge leads to the wrong one)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.parity_airbyte import PARITY_PYTHON, WORKSPACE, environment
from orchestration.lineage import record
from orchestration.lineage.graph import Graph
from tests.fakes.airbyte_server import FakeAirbyte
from tests.lineage_checks import STREAMS, labelled_edges, shipped_edges
from tests.servers import bench_api_for_this_process

REPO = Path(__file__).resolve().parents[1]
LINEAGE = REPO / "parity" / "dagster_lineage.py"
CONNECTION = "6f1d2c3b-0a4e-4f5d-9c8b-7a6e5d4c3b2a"
SIDES = ("elt (OpenLineage events)", "Dagster (asset graph)")


def ours(fake: FakeAirbyte, workdir: Path) -> set[tuple[str, str]]:
    from orchestration.flows.airbyte_sync import airbyte_sync
    from orchestration.flows.full_pipeline import full_pipeline

    warehouse = str(workdir / "warehouse.duckdb")
    with environment(DUCKDB_PATH=warehouse, FAKER_COUNT="100", AIRBYTE_SERVER_URL=""):
        airbyte_sync()  # the raw tables, by the embedded source-faker
    settings = {
        "DUCKDB_PATH": warehouse,
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),  # whatever the working folder
        "AIRBYTE_SERVER_URL": fake.url,
        "AIRBYTE_CLIENT_ID": fake.client_id,
        "AIRBYTE_CLIENT_SECRET": fake.client_secret,
        "AIRBYTE_CONNECTION_ID": CONNECTION,
        "AIRBYTE_POLL_INTERVAL_SECONDS": "0.05",
    }
    with environment(**settings), record.collecting() as events:
        full_pipeline()
    return labelled_edges(Graph.from_events(events))


def dagster(fake: FakeAirbyte) -> dict[str, Any]:
    request = {
        "project_dir": str(REPO / "dbt_project"),  # parsed by our run: target/manifest.json
        "rest": fake.url,
        "configuration": fake.configuration_url,
        "workspace_id": WORKSPACE,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
    }
    proc = subprocess.run(
        [str(PARITY_PYTHON), str(LINEAGE), json.dumps(request)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def as_labels(graph: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str], bool]:
    """Dagster's keys as our labels: a model `dim_users` -> `analytics.dim_users`, a dbt source
    `airbyte/users` -> `raw.users`. Also: the Airbyte assets (each the raw table a stream
    writes), and whether any of them is the parent of a dbt asset (one node per table)."""

    def label(key: str) -> str:
        parts = key.split("/")
        return f"raw.{parts[1]}" if parts[0] == "airbyte" else f"analytics.{parts[-1]}"

    airbyte_tables = {k for k, kinds in graph["assets"].items() if "airbyte" in kinds}
    edges = {(label(a), label(b)) for a, b in graph["edges"] if a not in airbyte_tables}
    stitched = any(a in airbyte_tables for a, _ in graph["edges"])
    return edges, airbyte_tables, stitched


def run() -> dict[str, dict[str, str]]:
    expected = shipped_edges(CONNECTION)
    stream_edges = {(f"{CONNECTION} / {s}", f"raw.{s}") for s in STREAMS}
    with (
        tempfile.TemporaryDirectory() as home,
        bench_api_for_this_process(Path(home), os.environ),
        FakeAirbyte(auth="client_credentials", configuration_api=True) as fake,
    ):
        fake.add_connection(CONNECTION, workspace_id=WORKSPACE)
        found = ours(fake, Path(home))
        theirs, airbyte_tables, airbyte_joined = as_labels(dagster(fake))
        fake.violations.clear()  # the Dagster side's drift from the spec is not ours to fail on
    # an Airbyte asset is its raw table, written by its stream: an edge to a node of its own
    # unless the asset is the very node dbt's source is (a shared key, or a custom translator)
    theirs |= {
        (a, b if airbyte_joined else f"{b} (Airbyte's asset)")
        for a, b in stream_edges
        if b.removeprefix("raw.") in airbyte_tables
    }
    rows = {}
    for side, edges, stitched in ((SIDES[0], found, True), (SIDES[1], theirs, airbyte_joined)):
        held = edges & expected
        rows[side] = {
            "edges": f"{len(edges)}",
            "of the project's (recall)": f"{len(held)}/{len(expected)}",
            "not in the project (precision)": f"{len(edges - expected)} extra",
            "Airbyte tables joined to dbt's sources": "yes" if stitched else "no (two assets)",
        }
    return rows
