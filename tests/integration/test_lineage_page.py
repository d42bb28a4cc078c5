"""The lineage page is true at a glance, read from what a browser draws: no edge passes
behind a node it does not join, every text stays inside its box, no two boxes overlap, and the
shipped project's page fits a 1,280 px window; a 60-node generated graph scrolls but holds the
same. The graphs are built as `elt lineage` builds them, from the datasets' identities."""

from __future__ import annotations

import pytest

from orchestration.lineage.page import render
from tests.lineage_checks import generated_edges, graph_of, shipped_edges

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
