"""The lineage drawing's geometry, from the layout's own numbers: no two boxes overlap and no
edge's curve passes through a box it does not join, on the shipped project's graph and on a
generated 60-node one. (tests/integration/test_lineage_page.py checks the same on what a
browser draws, and that every text fits its box.)"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from orchestration.lineage.graph import Key
from orchestration.lineage.page import drawing, render
from tests.lineage_checks import generated_edges, graph_of, shipped_edges

GRAPHS = {
    "shipped": graph_of(shipped_edges("embedded:source-faker")),
    "generated-60": graph_of(generated_edges()),
}
Box = tuple[float, float, float, float]


def curve(a: tuple[float, float], b: tuple[float, float], steps: int = 40):
    """Points of the cubic page.render draws between two route points: control points at the
    middle x, at each end's height."""
    (x1, y1), (x2, y2) = a, b
    mid = (x1 + x2) / 2
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        x = u**3 * x1 + 3 * u * u * t * mid + 3 * u * t * t * mid + t**3 * x2
        y = u**3 * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y2
        yield x, y


def inside(point: tuple[float, float], box: Box) -> bool:
    x, y = point
    left, top, width, height = box
    return left + 1 < x < left + width - 1 and top + 1 < y < top + height - 1


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("name", GRAPHS)
def test_no_box_overlaps_another_and_no_edge_passes_behind_a_node(name):
    graph = GRAPHS[name]
    layout = drawing(graph)
    assert set(layout.boxes) == set(graph.nodes)
    assert set(layout.routes) == graph.edges  # every edge drawn

    boxes = sorted(layout.boxes.items())
    overlaps = [
        (a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1 :]
        if overlap(box, other)
    ]  # fmt: skip
    assert overlaps == []

    crossings: set[tuple[Key, Key, Key]] = set()
    for (source, target), points in layout.routes.items():
        assert [x for x, _ in points] == sorted(x for x, _ in points)  # left to right
        for a, b in pairwise(points):
            for point in curve(a, b):
                crossings.update(
                    (source, target, key)
                    for key, box in boxes
                    if key not in (source, target) and inside(point, box)
                )
    assert crossings == set()


def test_the_page_holds_every_node_and_edge_and_needs_no_network():
    graph = GRAPHS["shipped"]
    page = render(graph, "Lineage (shipped)")
    assert page.count('class="edge"') == len(graph.edges)
    assert page.count('<g class="node"') == len(graph.nodes)
    assert "daily_revenue" in page and "<script" not in page
    assert re.search(r"""(src|href|url)\s*[=(]\s*["']?https?:""", page) is None  # loads nothing
