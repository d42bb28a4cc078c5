"""The lineage page is true at a glance, read from what a browser draws: no edge passes
behind a node it does not join, every text stays inside its box, no two boxes overlap, and the
shipped project's page fits a 1,280 px window; a 60-node generated graph scrolls but holds the
same. The graphs are built as `elt lineage` builds them, from the datasets' identities."""

from __future__ import annotations

import random

import pytest

from orchestration.lineage.graph import Graph, Node
from orchestration.lineage.page import render
from tests.lineage_checks import shipped_edges

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


GRAPHS = {
    "shipped": graph_of(shipped_edges("embedded:source-faker")),
    "generated-60": graph_of(generated_edges()),
}

# In the page: each edge sampled every 2 px against every box but its own ends, each text's
# box against its node's, every pair of boxes, and the page's width.
MEASURE = """() => {
  const inside = (p, b) => p.x > b.left + 1 && p.x < b.right - 1 && p.y > b.top + 1
                           && p.y < b.bottom - 1;
  const nodes = [...document.querySelectorAll('g.node')].map(g => ({
    id: g.dataset.node, box: g.querySelector('rect').getBoundingClientRect(),
    texts: [...g.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()]),
  }));
  const crossings = [];
  for (const path of document.querySelectorAll('path.edge')) {
    const [from, to] = path.dataset.edge.split(' -> ');
    const m = path.getScreenCTM(), length = path.getTotalLength();
    const hit = new Set();
    for (let s = 0; s <= length; s += 2) {
      const p = new DOMPoint(path.getPointAtLength(s).x, path.getPointAtLength(s).y)
        .matrixTransform(m);
      for (const n of nodes) if (n.id !== from && n.id !== to && inside(p, n.box)) hit.add(n.id);
    }
    for (const id of hit) crossings.push(`${path.dataset.edge} crosses ${id}`);
  }
  const overflows = [];
  for (const n of nodes) for (const [text, t] of n.texts)
    if (t.left < n.box.left || t.right > n.box.right || t.top < n.box.top
        || t.bottom > n.box.bottom) overflows.push(`${text} (${t.right - n.box.right} px)`);
  const overlaps = [];
  nodes.forEach((a, i) => nodes.slice(i + 1).forEach(b => {
    if (a.box.left < b.box.right && b.box.left < a.box.right && a.box.top < b.box.bottom
        && b.box.top < a.box.bottom) overlaps.push(`${a.id} / ${b.id}`);
  }));
  return {crossings, overflows, overlaps, nodes: nodes.length,
          edges: document.querySelectorAll('path.edge').length,
          pageWidth: document.documentElement.scrollWidth};
}"""


@pytest.mark.parametrize("name", GRAPHS)
def test_the_lineage_page_draws_no_edge_behind_a_node_and_no_label_out_of_its_box(
    name, browser, tmp_path
):
    graph = GRAPHS[name]
    page = tmp_path / "lineage.html"
    page.write_text(render(graph, f"Lineage ({name})"), encoding="utf-8")
    window = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        window.goto(page.as_uri())
        drawn = window.evaluate(MEASURE)
    finally:
        window.close()

    assert (drawn["nodes"], drawn["edges"]) == (len(graph.nodes), len(graph.edges))
    assert drawn["crossings"] == []
    assert drawn["overflows"] == []
    assert drawn["overlaps"] == []
    if name == "shipped":  # fits a laptop's window: no sideways scrolling
        assert drawn["pageWidth"] <= 1280, drawn["pageWidth"]
