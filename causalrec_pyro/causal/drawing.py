"""Draw a causal graph as a PNG: causes in rows above their effects, edges kept off other nodes."""

from __future__ import annotations

import math
import os
from pathlib import Path

import networkx as nx

__all__ = ["layered_layout", "draw_graph"]

#: Vertical distance of a label from its node's centre, in row heights.
_LABEL_OFFSET = 0.2

#: Marker area of a node in points squared, as in ``networkx.draw_networkx_nodes``.
_NODE_SIZE = 500


def layered_layout(graph: nx.DiGraph) -> tuple[dict, dict]:
    """Return node positions and edge routes of a layered drawing of ``graph``.

    Each topological generation is a row, causes on top (``y = -row``). An edge that skips
    rows gets a bend point in each row it crosses, placed like a node, so it keeps a distance
    of at least 1 from every node of those rows (the Sugiyama method). Roots with the same
    children sit together, those of the earliest effects first. Each later point sits near
    the mean x of its parents, with a spacing of at least 1 next to a node and 0.5 between
    bend points.

    Returns
    -------
    positions : dict
        ``{node: (x, y)}``.
    routes : dict
        ``{(parent, child): [(x, y), ...]}``, the points an edge passes through, from the
        parent's position to the child's.
    """
    generations = [sorted(nodes) for nodes in nx.topological_generations(graph)]
    row_of = {node: row for row, nodes in enumerate(generations) for node in nodes}
    rows = [list(nodes) for nodes in generations]
    parents = {node: list(graph.predecessors(node)) for node in graph.nodes}
    chains = {}
    for parent, child in graph.edges:
        chain, previous = [], parent
        for row in range(row_of[parent] + 1, row_of[child]):
            bend = ("bend", parent, child, row)
            rows[row].append(bend)
            parents[bend] = [previous]
            chain.append(bend)
            previous = bend
        parents[child] = [previous if p == parent else p for p in parents[child]]
        chains[(parent, child)] = chain

    points = {}
    for row, members in enumerate(rows):
        if row == 0:

            def root_key(node):
                children = sorted(graph.successors(node))
                return (min((row_of[c] for c in children), default=0), children, node)

            ordered = sorted(members, key=root_key)
            targets = [float(index) for index in range(len(ordered))]
        else:

            def mean_parent_x(point):
                return sum(points[p][0] for p in parents[point]) / len(parents[point])

            ordered = sorted(members, key=lambda point: (mean_parent_x(point), str(point)))
            targets = [mean_parent_x(point) for point in ordered]
        gaps = [
            0.5 if isinstance(left, tuple) and isinstance(right, tuple) else 1.0
            for left, right in zip(ordered, ordered[1:])
        ]
        for point, x in zip(ordered, _spread(targets, gaps), strict=True):
            points[point] = (x, -float(row))

    positions = {node: points[node] for node in graph.nodes}
    routes = {
        (parent, child): [points[parent]] + [points[b] for b in chain] + [points[child]]
        for (parent, child), chain in chains.items()
    }
    return positions, routes


def _spread(xs: list[float], gaps: list[float]) -> list[float]:
    """Move sorted positions apart to at least ``gaps[i]`` between neighbours, keeping
    their mean."""
    placed = []
    for index, x in enumerate(xs):
        placed.append(x if index == 0 else max(x, placed[-1] + gaps[index - 1]))
    shift = (sum(xs) - sum(placed)) / len(xs) if xs else 0.0
    return [x + shift for x in placed]


def draw_graph(
    graph: nx.DiGraph, title: str, path: str | os.PathLike, *, figsize=None, dpi: int = 100
) -> Path:
    """Draw ``graph`` with :func:`layered_layout` to a PNG file and return the path.

    Nodes with a true ``observed`` attribute are grey, the others white. In the top row,
    labels sit alternately above and below their nodes, so that long site names do not
    overlap. In the other rows they sit right of their nodes, clear of the arriving edges.
    Matplotlib's Agg canvas is used, not pyplot's global state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    positions, routes = layered_layout(graph)
    rows: dict[float, list] = {}
    for node, (x, y) in positions.items():
        rows.setdefault(y, []).append((x, node))
    xs = [x for route in routes.values() for x, _ in route] + [x for x, _ in positions.values()]
    span = (max(xs) - min(xs)) if xs else 0.0
    if figsize is None:
        figsize = (max(6.0, 1.4 * (span + 1)), max(4.0, 1.8 * len(rows)))
    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = ["#cccccc" if graph.nodes[n].get("observed") else "white" for n in graph.nodes]
    nodes = nx.draw_networkx_nodes(
        graph, positions, ax=axes, node_color=colours, edgecolors="black", node_size=_NODE_SIZE
    )
    nodes.set_zorder(3)
    radius = math.sqrt(_NODE_SIZE) / 2
    for route in routes.values():
        # The route starts at the parent's centre, under its marker, and bends where it
        # crosses a row. The arrow on its last part stops at the child's border.
        if len(route) > 2:
            axes.plot(*zip(*route[:-1], strict=True), color="black", linewidth=1, zorder=1)
        start_shrink = radius if len(route) == 2 else 0.0
        axes.annotate(
            "",
            xy=route[-1],
            xytext=route[-2],
            arrowprops={
                "arrowstyle": "-|>",
                "color": "black",
                "shrinkA": start_shrink,
                "shrinkB": radius + 1,
                "mutation_scale": 12,
            },
            zorder=1,
        )
    top = max(rows, default=0.0)
    for y_row, row in rows.items():
        for index, (x, node) in enumerate(sorted(row)):
            if y_row != top:
                # Edges arrive from above, so a label right of the node stays clear of them.
                axes.text(x + _LABEL_OFFSET / 2, y_row, f"  {node}", va="center", fontsize=8)
                continue
            above = index % 2 == 0
            y = y_row + (_LABEL_OFFSET if above else -_LABEL_OFFSET)
            va = "bottom" if above else "top"
            axes.text(x, y, node, ha="center", va=va, fontsize=8)
    axes.margins(x=0.08, y=0.15)
    axes.set_title(title)
    axes.set_axis_off()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
