"""A layered drawing of the lineage graph whose edges never pass behind a node.

The Sugiyama method, in its plainest form: each node sits in the column of its depth; an edge
that spans several columns gets a waypoint in every column between (a slot of its own, so no
node can sit there); each column is ordered by the mean row of its neighbours (a few sweeps
each way, which removes most crossings). Every node of a column is as wide as the column, so
an edge runs from a column's right side to the next column's left side within the gap between
them, or straight through a column at its own waypoint: it never meets a node's box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from orchestration.lineage.graph import Key

NODE_H, WAYPOINT_H, GAP_Y, GAP_X, PAD = 58, 10, 18, 64, 16
SWEEPS = 4


@dataclass(frozen=True)
class Waypoint:
    """Where a long edge crosses a column (`edge`, the index of its hop)."""

    edge: tuple[Key, Key]
    column: int


Slot = Key | Waypoint  # what a column holds


@dataclass
class Layout:
    """Boxes of the nodes (x, y, width, height), each edge's points from the right side of its
    source to the left side of its target, and the drawing's size."""

    boxes: dict[Key, tuple[float, float, float, float]] = field(default_factory=dict)
    routes: dict[tuple[Key, Key], list[tuple[float, float]]] = field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0


def lay_out(
    layers: Sequence[Sequence[Key]],
    edges: Sequence[tuple[Key, Key]],
    widths: Mapping[Key, float],
) -> Layout:
    """`layers`: the nodes by column (every edge goes to a later column, or it is not drawn);
    `widths`: how wide each node's text needs its box to be."""
    column_of = {key: c for c, keys in enumerate(layers) for key in keys}
    drawn = [(a, b) for a, b in edges if column_of[a] < column_of[b]]
    columns: list[list[Slot]] = [list(keys) for keys in layers]
    chains: dict[tuple[Key, Key], list[Slot]] = {}
    for a, b in drawn:
        chain: list[Slot] = [a]
        for c in range(column_of[a] + 1, column_of[b]):
            waypoint = Waypoint((a, b), c)
            columns[c].append(waypoint)
            chain.append(waypoint)
        chains[(a, b)] = [*chain, b]
    _order(columns, chains)

    layout = Layout()
    column_widths = [
        max((widths[k] for k in keys if not isinstance(k, Waypoint)), default=0) for keys in columns
    ]
    heights = [
        sum(WAYPOINT_H if isinstance(k, Waypoint) else NODE_H for k in keys)
        + GAP_Y * max(len(keys) - 1, 0)
        for keys in columns
    ]
    tallest = max(heights, default=0)
    centre: dict[Slot, tuple[float, float, float]] = {}  # left, middle y, right
    x = float(PAD)
    for keys, width, height in zip(columns, column_widths, heights, strict=True):
        y = PAD + (tallest - height) / 2  # each column centred on the tallest
        for key in keys:
            h = WAYPOINT_H if isinstance(key, Waypoint) else NODE_H
            if not isinstance(key, Waypoint):
                layout.boxes[key] = (x, y, width, h)
            centre[key] = (x, y + h / 2, x + width)
            y += h + GAP_Y
        x += width + GAP_X
    layout.width = x - GAP_X + PAD
    layout.height = tallest + 2 * PAD
    for edge, chain in chains.items():
        points = [(centre[chain[0]][2], centre[chain[0]][1])]
        for key in chain[1:]:
            left, middle, right = centre[key]
            points.append((left, middle))
            if isinstance(key, Waypoint):
                points.append((right, middle))
        layout.routes[edge] = points
    return layout


def _order(columns: list[list[Slot]], chains: Mapping[tuple[Key, Key], list[Slot]]) -> None:
    """Reorder each column, in place, by the mean position of its neighbours in the column
    before (sweeping right) or after (sweeping left)."""
    before: dict[Slot, list[Slot]] = {}
    after: dict[Slot, list[Slot]] = {}
    for chain in chains.values():
        for a, b in pairwise(chain):
            after.setdefault(a, []).append(b)
            before.setdefault(b, []).append(a)

    def sweep(indices: range, neighbours: dict[Slot, list[Slot]], side: int) -> None:
        for c in indices:
            row = {key: i for i, key in enumerate(columns[c + side])}
            current = {key: i for i, key in enumerate(columns[c])}
            columns[c].sort(key=lambda key: (_mean(neighbours.get(key, []), row, current[key]),
                                             current[key]))  # fmt: skip

    for _ in range(SWEEPS):
        sweep(range(1, len(columns)), before, -1)
        sweep(range(len(columns) - 2, -1, -1), after, +1)


def _mean(neighbours: list[Slot], row: Mapping[Slot, int], otherwise: float) -> float:
    rows = [row[n] for n in neighbours if n in row]
    return sum(rows) / len(rows) if rows else otherwise


__all__ = ["Layout", "Waypoint", "lay_out"]
