"""The lineage graph, built from OpenLineage events (as a lineage server builds it): a dataset
is a node; a run that read A and wrote B is an edge A -> B. Each node keeps the state of the
last run that wrote it and the last freshness assertion on it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Key = tuple[str, str]  # (namespace, name)


@dataclass
class Node:
    namespace: str
    name: str
    state: str = ""  # COMPLETE | FAIL | RUNNING (START seen last) | REUSED | "" (only read)
    written_at: str = ""
    job: str = ""
    fresh: bool | None = None  # the last freshness assertion on it

    @property
    def label(self) -> str:
        if self.namespace.startswith("airbyte://"):
            return f"{self.namespace.removeprefix('airbyte://')} / {self.name}"
        return ".".join(self.name.split(".")[-2:])  # schema.table

    @property
    def table(self) -> str:
        return self.name.split(".")[-1]

    @property
    def outcome(self) -> str:
        """The last run that wrote it, in a word ("" when nothing wrote it)."""
        outcomes = {"COMPLETE": "OK", "FAIL": "FAILED", "RUNNING": "running", "REUSED": "reused"}
        return outcomes.get(self.state, "")

    @property
    def freshness(self) -> str:
        return {True: "fresh", False: "STALE", None: ""}[self.fresh]

    @property
    def written(self) -> str:
        """When it was last written, to the minute (UTC)."""
        return self.written_at[:16].replace("T", " ")


@dataclass
class Graph:
    nodes: dict[Key, Node] = field(default_factory=dict)
    edges: set[tuple[Key, Key]] = field(default_factory=set)

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]]) -> Graph:
        graph = cls()
        for event in sorted(events, key=lambda e: str(e.get("eventTime", ""))):
            graph.add(event)
        return graph

    def node(self, dataset: dict[str, Any]) -> Node:
        key = (str(dataset["namespace"]), str(dataset["name"]))
        if key not in self.nodes:
            self.nodes[key] = Node(*key)
        return self.nodes[key]

    def add(self, event: dict[str, Any]) -> None:
        inputs = [self.node(d) for d in event.get("inputs") or []]
        outputs = [self.node(d) for d in event.get("outputs") or []]
        state = str(event.get("eventType", ""))
        for dataset, node in zip(event.get("inputs") or [], inputs, strict=True):
            facet = ((dataset.get("inputFacets") or {}).get("dataQualityAssertions")) or {}
            for assertion in facet.get("assertions") or []:
                if assertion.get("assertion") == "freshness":
                    node.fresh = bool(assertion.get("success"))
            reused = (dataset.get("inputFacets") or {}).get("eltReused")
            if reused and node.state in ("", "REUSED"):  # not written in this graph's runs
                node.state, node.written_at = "REUSED", str(reused.get("lastBuiltAt", ""))
        for node in outputs:
            node.state = "RUNNING" if state == "START" else state
            node.written_at = str(event.get("eventTime", ""))
            node.job = str((event.get("job") or {}).get("name", ""))
            self.edges.update(((i.namespace, i.name), (node.namespace, node.name)) for i in inputs)

    def find(self, table: str) -> list[Key]:
        """The nodes named `table`: the whole name, its last parts, or a stream's name."""
        wanted = table.lower()
        return [
            key
            for key, node in sorted(self.nodes.items())
            if wanted in (node.name.lower(), node.label.lower(), node.table.lower())
            or node.name.lower().endswith("." + wanted)
        ]

    def parents(self, key: Key) -> list[Key]:
        return sorted(a for a, b in self.edges if b == key)

    def children(self, key: Key) -> list[Key]:
        return sorted(b for a, b in self.edges if a == key)

    def tree(self, key: Key, upstream: bool, depth: int = 1) -> Iterator[str]:
        """Indented lines of everything upstream (or downstream) of `key`."""
        for other in self.parents(key) if upstream else self.children(key):
            yield "  " * depth + self.describe(other)
            yield from self.tree(other, upstream, depth + 1)

    def describe(self, key: Key) -> str:
        node = self.nodes[key]
        fresh = f", {node.freshness}" if node.freshness else ""
        written = (
            f" (last written {node.written_at[:19]} {node.outcome}{fresh})" if node.outcome else ""
        )
        return f"{node.label}{written}"

    def layers(self) -> list[list[Key]]:
        """The nodes by depth (longest path from a node with no parent), for drawing."""
        depth: dict[Key, int] = {}

        def walk(key: Key, seen: frozenset[Key]) -> int:
            if key not in depth:
                parents = [p for p in self.parents(key) if p not in seen]
                depth[key] = 1 + max((walk(p, seen | {key}) for p in parents), default=-1)
            return depth[key]

        for key in self.nodes:
            walk(key, frozenset())
        out: list[list[Key]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for key in sorted(self.nodes, key=lambda k: self.nodes[k].label):
            out[depth[key]].append(key)
        return out


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a JSON-lines file (a line that is not an event is skipped)."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "eventType" in event:
            events.append(event)
    return events


def markdown(graph: Graph, events: list[dict[str, Any]]) -> str:
    """The graph as a Prefect markdown artifact: each edge with the state of what it feeds,
    then the OpenLineage runs (their ids, to find them on a lineage server)."""
    lines = ["| from | to | to: last run | written (UTC) |", "|---|---|---|---|"]
    for a, b in sorted(graph.edges, key=lambda e: (graph.nodes[e[1]].label, e)):
        node = graph.nodes[b]  # four short columns: the Prefect UI shows them without cutting
        state = ", ".join(part for part in (node.outcome, node.freshness) if part)
        lines.append(f"| {graph.nodes[a].label} | {node.label} | {state} | {node.written} |")
    runs: dict[str, tuple[str, str]] = {}
    for event in events:
        runs[str(event["run"]["runId"])] = (str(event["job"]["name"]), str(event["eventType"]))
    lines += ["", "| OpenLineage job | run id | state |", "|---|---|---|"]
    lines += [f"| {job} | `{run_id}` | {state} |" for run_id, (job, state) in sorted(
        runs.items(), key=lambda r: r[1])]  # fmt: skip
    return "\n".join(lines)


__all__ = ["Graph", "Node", "markdown", "read_events"]
