"""`elt lineage`: the lineage graph of what ran, from its OpenLineage events, without Cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli._output import fail, line
from orchestration.cli._policy import guarded

__all__ = ["lineage"]


def lineage(
    table: Annotated[
        str | None,
        typer.Argument(help="A table, model or stream (e.g. dim_users): its up- and downstream."),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="OpenLineage events, one JSON per line [default: ELT_HOME/lineage/events.jsonl, "
            "where every run keeps its events, whatever transport is configured].",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Where to write the graph as an HTML page [default: "
            "lineage.html beside the events].",
        ),
    ] = None,
) -> None:
    """Print the lineage of a table (up to its Airbyte stream, down to the marts) and write
    the whole graph as an HTML page that opens offline."""  # fmt: skip
    from orchestration.config.local_settings import local_settings
    from orchestration.lineage.graph import Graph, read_events
    from orchestration.lineage.page import render
    from orchestration.lineage.transport import events_file

    source = events or events_file(guarded(local_settings).elt_home)
    if not source.is_file():
        fail(
            f"no lineage events at {source}: run the pipeline first (every run keeps its events "
            "there on the embedded default or with an OpenLineage transport configured; with an "
            'Airbyte server, configure one: README "Lineage"), or pass --events FILE'
        )
    graph = Graph.from_events(read_events(source))
    page = html or source.with_name("lineage.html")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(graph, f"Lineage ({source.name})"), encoding="utf-8")
    if table is None:
        for a, b in sorted(graph.edges):
            line(f"{graph.nodes[a].label} -> {graph.nodes[b].label}")
    else:
        found = graph.find(table)
        if not found:
            known = ", ".join(sorted({n.table for n in graph.nodes.values()})[:30])
            fail(f"no dataset named {table!r} in the lineage of {source}: one of {known}")
        for key in found:
            line(graph.describe(key))
            for direction, upstream in (("upstream", True), ("downstream", False)):
                line(f"  {direction}:")
                for text in list(graph.tree(key, upstream, depth=2)) or ["    (none)"]:
                    line(text)
    line(f"graph: {page} ({len(graph.nodes)} datasets, {len(graph.edges)} edges)")
