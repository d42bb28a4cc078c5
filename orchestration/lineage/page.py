"""The lineage graph as one self-contained HTML page: inline SVG and CSS, no script and no
CDN, so it opens offline and from an artifact store alike."""

from __future__ import annotations

from html import escape

from orchestration.lineage.graph import Graph, Key

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 250, 54, 90, 24, 20
COLOURS = {"COMPLETE": "#d7f5dd", "FAIL": "#fbd5d5", "RUNNING": "#fdf1c7", "": "#eceff3"}


def render(graph: Graph, title: str = "Lineage") -> str:
    layers = graph.layers()
    where: dict[Key, tuple[int, int]] = {}
    for column, keys in enumerate(layers):
        for row, key in enumerate(keys):
            where[key] = (PAD + column * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + max(len(layers), 1) * (NODE_W + GAP_X)
    height = PAD * 2 + max((len(k) for k in layers), default=1) * (NODE_H + GAP_Y)
    edges = []
    for a, b in sorted(graph.edges):
        (ax, ay), (bx, by) = where[a], where[b]
        x1, y1, x2, y2 = ax + NODE_W, ay + NODE_H // 2, bx, by + NODE_H // 2
        middle = (x1 + x2) // 2
        edges.append(
            f'<path class="edge" data-edge="{escape(_id(a))} -> {escape(_id(b))}" '
            f'd="M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"/>'
        )
    nodes = []
    for key, (x, y) in sorted(where.items()):
        node = graph.nodes[key]
        fresh = {True: "fresh", False: "STALE", None: ""}[node.fresh]
        state = {"COMPLETE": "OK", "FAIL": "FAILED", "RUNNING": "running"}.get(node.state, "")
        detail = " · ".join(part for part in (state, node.written_at[:16], fresh) if part)
        stale = ' class="stale"' if node.fresh is False else ""
        nodes.append(
            f'<g class="node" data-node="{escape(_id(key))}">'
            f"<title>{escape(key[0])} {escape(key[1])}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{COLOURS.get(node.state, COLOURS[""])}"'
            f"{stale}/>"
            f'<text x="{x + 10}" y="{y + 22}" class="label">{escape(node.label)}</text>'
            f'<text x="{x + 10}" y="{y + 42}" class="detail">{escape(detail)}</text></g>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1f2933; }}
.edge {{ fill: none; stroke: #7b8794; stroke-width: 1.5; marker-end: url(#arrow); }}
rect {{ stroke: #52606d; }} rect.stale {{ stroke: #d64545; stroke-width: 3; }}
.label {{ font-size: 13px; font-weight: 600; }} .detail {{ font-size: 11px; fill: #52606d; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>{len(graph.nodes)} datasets, {len(graph.edges)} edges: an Airbyte stream, the raw table its
sync wrote, the dbt models built from it. Green: last written OK; red: its last run failed;
a red border: its last freshness check failed. Hover a node for its full name.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"
 markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b8794"/>
</marker></defs>
{chr(10).join(edges)}
{chr(10).join(nodes)}
</svg></body></html>
"""


def _id(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


__all__ = ["render"]
