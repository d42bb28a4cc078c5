"""The lineage graph as one self-contained HTML page: inline SVG and CSS, no script and no
CDN, so it opens offline and from an artifact store alike. The drawing is `layout`'s: no edge
passes behind a node; it shrinks to the window (down to 60%, then the page scrolls)."""

from __future__ import annotations

from html import escape
from itertools import pairwise

from orchestration.lineage.graph import Graph, Key, Node
from orchestration.lineage.layout import NODE_H, Layout, lay_out

COLOURS = {"COMPLETE": "#d7f5dd", "FAIL": "#fbd5d5", "RUNNING": "#fdf1c7", "": "#eceff3"}
NAME_PX, SMALL_PX, INSET = 13, 11, 10
SMALLEST_SCALE = 0.6
# Advance widths in em, generous for the sans-serif fonts a browser may pick (DejaVu Sans is
# among the widest): the box is sized from them, since the page has no script to measure.
NARROW, WIDE = set("fijlrtI.,:;|!'()[] /-"), set("mwMW@%")


def text_width(text: str, px: float, bold: bool = False) -> float:
    em = sum(0.36 if c in NARROW else 0.95 if c in WIDE or c.isupper() else 0.64 for c in text)
    return em * px * (1.08 if bold else 1.0)


def lines_of(node: Node) -> tuple[str, str, str]:
    """A node's three lines: where it lives (schema, or the Airbyte connection), its name,
    and its last write (state, time, freshness)."""
    if node.namespace.startswith("airbyte://"):
        where, name = node.namespace.removeprefix("airbyte://"), node.name
    else:
        where, _, name = node.label.rpartition(".")
    detail = (node.outcome, node.written, node.freshness)
    return where, name, " · ".join(part for part in detail if part)


def drawing(graph: Graph) -> Layout:
    """Where each node's box and each edge's route go, every box as wide as its text needs."""
    widths = {
        key: 2 * INSET + max(text_width(where, SMALL_PX), text_width(name, NAME_PX, bold=True),
                             text_width(detail, SMALL_PX))
        for key, (where, name, detail) in (
            (key, lines_of(node)) for key, node in graph.nodes.items()
        )
    }  # fmt: skip
    return lay_out(graph.layers(), sorted(graph.edges), widths)


def render(graph: Graph, title: str = "Lineage") -> str:
    lines = {key: lines_of(node) for key, node in graph.nodes.items()}
    layout = drawing(graph)
    edges = []
    for (a, b), points in sorted(layout.routes.items()):
        path = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
        for (x1, y1), (x2, y2) in pairwise(points):
            middle = (x1 + x2) / 2  # the curve stays between x1 and x2: in a gap, or a slot
            path.append(f"C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} {x2:.1f},{y2:.1f}")
        edges.append(
            f'<path class="edge" data-edge="{escape(_id(a))} -> {escape(_id(b))}" '
            f'd="{" ".join(path)}"/>'
        )
    nodes = []
    for key, (x, y, width, height) in sorted(layout.boxes.items()):
        node = graph.nodes[key]
        where, name, detail = lines[key]
        stale = ' class="stale"' if node.fresh is False else ""
        nodes.append(
            f'<g class="node" data-node="{escape(_id(key))}">'
            f"<title>{escape(key[0])} {escape(key[1])}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height}" rx="6" '
            f'fill="{COLOURS.get(node.state, COLOURS[""])}"{stale}/>'
            f'<text x="{x + INSET:.1f}" y="{y + 17:.1f}" class="where">{escape(where)}</text>'
            f'<text x="{x + INSET:.1f}" y="{y + 34:.1f}" class="label">{escape(name)}</text>'
            f'<text x="{x + INSET:.1f}" y="{y + NODE_H - 9:.1f}" class="detail">'
            f"{escape(detail)}</text></g>"
        )
    w, h = layout.width, layout.height
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1f2933; }}
.graph {{ overflow: auto; }}
svg {{ display: block; max-width: 100%; height: auto; min-width: {w * SMALLEST_SCALE:.0f}px; }}
.edge {{ fill: none; stroke: #7b8794; stroke-width: 1.5; marker-end: url(#arrow); }}
rect {{ stroke: #52606d; }} rect.stale {{ stroke: #d64545; stroke-width: 3; }}
.label {{ font-size: {NAME_PX}px; font-weight: 600; }}
.where, .detail {{ font-size: {SMALL_PX}px; fill: #52606d; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>{len(graph.nodes)} datasets, {len(graph.edges)} edges: an Airbyte stream, the raw table its
sync wrote, the dbt models built from it. Green: last written OK; red: its last run failed;
a red border: its last freshness check failed. Hover a node for its full name.</p>
<div class="graph"><svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}"
 viewBox="0 0 {w:.0f} {h:.0f}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"
 markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b8794"/>
</marker></defs>
{chr(10).join(edges)}
{chr(10).join(nodes)}
</svg></div></body></html>
"""


def _id(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


__all__ = ["drawing", "render", "text_width"]
