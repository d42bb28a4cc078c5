"""What the lineage tests share: a lineage server's ingestion endpoint, the OpenLineage JSON
schema check, the shipped project's edges written by hand, and graphs to draw."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orchestration.lineage.graph import Graph, Node

STREAMS = ("users", "products", "purchases")


def shipped_edges(connection: str) -> set[tuple[str, str]]:
    """The shipped project's lineage, written by hand from its models' refs and sources, with
    its streams synced by `connection`."""
    return {
        *((f"{connection} / {s}", f"raw.{s}") for s in STREAMS),
        *((f"raw.{s}", f"analytics.stg_{s}") for s in STREAMS),
        ("analytics.stg_products", "analytics.dim_products"),
        ("analytics.stg_products", "analytics.fct_purchases"),
        ("analytics.stg_purchases", "analytics.fct_purchases"),
        ("analytics.stg_users", "analytics.dim_users"),
        ("analytics.fct_purchases", "analytics.dim_users"),
        ("analytics.fct_purchases", "analytics.daily_revenue"),
    }


def labelled_edges(graph: Graph) -> set[tuple[str, str]]:
    return {(graph.nodes[a].label, graph.nodes[b].label) for a, b in graph.edges}


SPEC = Path(__file__).parent / "fixtures" / "openlineage-spec"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
# Facets whose schema is published nowhere we can read: openlineage-integration-common 1.54
# writes `dbt_model` without shipping its schema. It must at least be a valid dataset facet.
UNPUBLISHED = {"dbt-model-dataset-facet.json": f"{CORE}#/$defs/DatasetFacet"}


def schema_errors(events: list[dict]) -> list[str]:
    """Every way `events` break the OpenLineage JSON schema (the core schema for the event,
    each facet's own schema by its `_schemaURL`), as `event: path: message` lines."""
    import openlineage.common.schema as dbt_schemas
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource

    schemas = {s["$id"]: s for s in (json.loads(p.read_text()) for p in SPEC.glob("*.json"))}
    registry = Registry().with_resources(
        (uri, Resource.from_contents(schema)) for uri, schema in schemas.items()
    )
    packaged = Path(dbt_schemas.__file__).parent  # the dbt facets' schemas, shipped with them

    def check(instance: dict, url: str, where: str) -> list[str]:
        base, _, fragment = url.partition("#")
        name = base.rsplit("/", 1)[-1]
        if name in UNPUBLISHED:
            schema = {"$ref": UNPUBLISHED[name]}
        elif base not in schemas:
            local = packaged / name
            if not local.is_file():
                return [f"{where}: no schema for {url}"]
            schema = json.loads(local.read_text())
            if fragment:
                schema = {**schema, "$ref": f"#{fragment}"}
        else:
            schema = {"$ref": url}
        validator = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
        return [
            f"{where}: {list(e.absolute_path)}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def facets(node: object, path: str) -> list[tuple[dict, str]]:
        found = []
        if isinstance(node, dict):
            if "_schemaURL" in node:
                found.append((node, path))
            for key, value in node.items():
                found += facets(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += facets(value, f"{path}[{i}]")
        return found

    errors = []
    for n, event in enumerate(events):
        where = f"event {n} ({event.get('job', {}).get('name')})"
        errors += check(event, event["schemaURL"], where)
        for facet, path in facets(event, where):
            errors += check(facet, facet["_schemaURL"], path)
    return errors


class LineageServer:
    """A lineage server's ingestion endpoint (`POST /api/v1/lineage`, as Marquez answers it),
    keeping what it received. `mode` (changeable while it runs): "ok"; "hang" accepts and
    never answers; "slow" keeps the event, then answers after 5 s; "error" answers 500 and
    keeps nothing."""

    def __init__(self, hang: bool = False, mode: str = "ok", port: int = 0) -> None:
        self.events: list[dict] = []
        self.requests = 0
        self.mode = "hang" if hang else mode
        self.release = threading.Event()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                received.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = received.mode
                if mode == "hang":
                    received.release.wait(60)
                    return
                if mode == "error":
                    self.send_response(500)
                elif self.path == "/api/v1/lineage":
                    received.events.append(json.loads(body))
                    if mode == "slow":
                        received.release.wait(5)
                    self.send_response(201)
                else:
                    self.send_response(404)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


WAREHOUSE = "duckdb:///home/data/warehouse.duckdb"
WRITTEN = "2026-12-06T17:59:31.123456+00:00"


def graph_of(edges: set[tuple[str, str]]) -> Graph:
    """Labelled edges ("conn / stream", "schema.table") as the graph of their datasets, each
    written OK and fresh: the longest detail line a node can have."""
    graph = Graph()

    def key(label: str) -> tuple[str, str]:
        connection, _, stream = label.partition(" / ")
        if stream:
            return (f"airbyte://{connection}", stream)
        return (WAREHOUSE, f"warehouse.{label}")

    for a, b in edges:
        for label in (a, b):
            k = key(label)
            graph.nodes.setdefault(k, Node(*k, state="COMPLETE", written_at=WRITTEN, fresh=True))
        graph.edges.add((key(a), key(b)))
    return graph


def generated_edges(seed: int = 7) -> set[tuple[str, str]]:
    """60 datasets in five tiers, each model reading from one to three of any earlier tier (so
    many edges skip tiers): 6 streams, 6 raw tables, 14 staging, 18 intermediate, 16 marts."""
    rng = random.Random(seed)
    streams = [f"embedded:source-faker / stream_{i:02d}" for i in range(6)]
    raw = [f"raw.stream_{i:02d}" for i in range(6)]
    tiers = [
        [f"analytics.stg_{rng.choice(['orders', 'users', 'payments'])}_{i:02d}" for i in range(14)],
        [f"analytics.int_customer_orders_by_region_{i:02d}" for i in range(18)],
        [f"analytics.fct_daily_revenue_{i:02d}" for i in range(16)],
    ]  # fmt: skip
    edges = set(zip(streams, raw, strict=True))
    earlier = list(raw)
    for tier in tiers:
        for model in tier:
            edges.update((parent, model) for parent in rng.sample(earlier, rng.randint(1, 3)))
        earlier += tier
    return edges
