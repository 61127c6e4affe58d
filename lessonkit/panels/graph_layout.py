"""The agent's graph laid out and drawn offline: a small layered layout and an SVG of it, in pure functions.

LangGraph draws graphs as Mermaid text (offline) or a PNG (``draw_mermaid_png``, which asks a web
service by default): neither can show which node is running now. So the layout is done here, top to
bottom like Mermaid's ``graph TD``: each node one layer below its predecessors (a loop's edge back up
does not count), nodes in a layer ordered to cross fewer edges, ``__end__`` alone at the bottom.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from xml.sax.saxutils import escape as xml_escape

ATTR = {"'": "&apos;", '"': "&quot;"}  # attribute values are single-quoted

START, END = "__start__", "__end__"
BOX_H, LAYER_GAP, NODE_GAP, MARGIN, CHAR_W = 32, 60, 28, 16, 7.4
STATES = ("idle", "running", "done", "failed", "halted")
FILL = {"idle": "#f6f8fa", "running": "#ffe08a", "done": "#dff3e3", "failed": "#ffd7d5", "halted": "#ffe8cc"}
STROKE = {"idle": "#8c959f", "running": "#d4a000", "done": "#2da44e", "failed": "#cf222e", "halted": "#bc4c00"}


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    conditional: bool = False
    label: str | None = None  # a conditional edge's branch name, when the graph gives one


@dataclass(frozen=True)
class Box:
    """A node's place: top-left corner, size, and its layer (0 at the top)."""

    id: str
    label: str
    x: float
    y: float
    w: float
    h: float
    layer: int

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    def overlaps(self, other: Box) -> bool:
        return self.x < other.x + other.w and other.x < self.x + self.w and self.y < other.y + other.h and other.y < self.y + self.h


@dataclass(frozen=True)
class Layout:
    boxes: Mapping[str, Box]
    edges: tuple[GraphEdge, ...]
    back_edges: frozenset[tuple[str, str]]  # edges that go up (loops): drawn around the right side
    width: float
    height: float


def read_graph(drawable: Any) -> tuple[list[str], list[GraphEdge]]:
    """Node ids and edges of LangGraph's drawable graph (``graph.get_graph()``), in the graph's own order."""
    nodes = list(drawable.nodes)
    edges = [GraphEdge(e.source, e.target, bool(e.conditional), None if e.data is None else str(e.data)) for e in drawable.edges]
    return nodes, [e for e in edges if e.source in drawable.nodes and e.target in drawable.nodes]


def _back_edges(nodes: Sequence[str], edges: Sequence[GraphEdge]) -> set[tuple[str, str]]:
    """The edges that close a loop, found by a depth-first walk from ``__start__`` (then from any node not reached)."""
    succ: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        succ[e.source].append(e.target)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the walk's path, 2 finished
    for root in sorted(nodes, key=lambda n: n != START):
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, rest = stack[-1]
            nxt = next(rest, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return back


def _layers(nodes: Sequence[str], edges: Sequence[GraphEdge], back: set[tuple[str, str]]) -> dict[str, int]:
    """Longest path from the top over the forward edges (``__end__`` beside a loop's body, as Mermaid draws it)."""
    forward = [(e.source, e.target) for e in edges if (e.source, e.target) not in back and e.source != e.target]
    layer = {n: 0 for n in nodes}
    for _ in nodes:  # relax: a DAG settles in at most len(nodes) rounds
        changed = False
        for s, t in forward:
            if layer[t] < layer[s] + 1:
                layer[t], changed = layer[s] + 1, True
        if not changed:
            break
    return layer


def _order(nodes: Sequence[str], edges: Sequence[GraphEdge], layer: Mapping[str, int], loop_ends: set[str]) -> list[list[str]]:
    """Nodes per layer, reordered a few times by their neighbours' mean position (fewer crossings)."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in nodes:
        rows[layer[n]].append(n)
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        preds[e.target].append(e.source)
        succs[e.source].append(e.target)
    for sweep in range(4):
        pos = {n: i for row in rows for i, n in enumerate(row)}
        near = preds if sweep % 2 == 0 else succs
        order = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for r in order:
            def weight(n: str) -> float:
                seen = [pos[m] for m in near[n] if m in pos and layer[m] != layer[n]]
                return sum(seen) / len(seen) if seen else pos[n]
            rows[r] = sorted(rows[r], key=weight)
            pos.update({n: i for i, n in enumerate(rows[r])})
    return [sorted(row, key=lambda n: n in loop_ends) for row in rows]  # a loop's ends rightmost: its edge goes round the right


def is_terminal(node: str) -> bool:
    """``__start__``/``__end__``, a subgraph's too (``research:__start__``): drawn as pills, never run as nodes."""
    return node.split(":")[-1] in (START, END)


def box_label(node: str) -> str:
    """``START``/``END``; a subgraph's node by its own name, its entry and exit as ``research: start``/``end``."""
    *outer, name = node.split(":")
    if name in (START, END):
        word = "start" if name == START else "end"
        return f"{':'.join(outer)}: {word}" if outer else word.upper()
    return name


def layout(nodes: Sequence[str], edges: Sequence[GraphEdge]) -> Layout:
    """Where every node goes: layers top to bottom, each layer centred, loops' room on the right."""
    back = _back_edges(nodes, edges)
    rows = _order(nodes, edges, _layers(nodes, edges, back), {n for pair in back for n in pair})
    widths = {n: max(64.0, len(box_label(n)) * CHAR_W + 24) for n in nodes}
    row_w = [sum(widths[n] for n in row) + NODE_GAP * max(len(row) - 1, 0) for row in rows]
    inner = max(row_w, default=0.0)
    labels = [len(e.label) for e in edges if (e.source, e.target) in back and e.label]
    loop_room = 28 + 14 * len(back) + max(labels, default=0) * 6.5 if back else 0
    boxes: dict[str, Box] = {}
    for r, row in enumerate(rows):
        x = MARGIN + (inner - row_w[r]) / 2
        for n in row:
            boxes[n] = Box(n, box_label(n), round(x, 1), MARGIN + r * (BOX_H + LAYER_GAP), widths[n], BOX_H, r)
            x += widths[n] + NODE_GAP
    height = MARGIN * 2 + len(rows) * BOX_H + max(len(rows) - 1, 0) * LAYER_GAP
    return Layout({n: boxes[n] for n in nodes}, tuple(edges), frozenset(back), round(MARGIN * 2 + inner + loop_room, 1), height)


@dataclass
class Highlight:
    """What the picture shows of a run: each node's state, how often it ran, the edges the run took."""

    states: dict[str, str] = field(default_factory=dict)  # node → one of STATES (idle when missing)
    visits: dict[str, int] = field(default_factory=dict)
    taken: set[tuple[str, str]] = field(default_factory=set)
    caption: str = ""


def _edge_path(lay: Layout, edge: GraphEdge, loop_index: int) -> tuple[str, float, float]:
    """The SVG path of an edge, and where its label goes."""
    a, b = lay.boxes[edge.source], lay.boxes[edge.target]
    if (edge.source, edge.target) in lay.back_edges or a.layer >= b.layer:
        low, high = sorted((a.layer, b.layer))
        right = max(box.x + box.w for box in lay.boxes.values() if low <= box.layer <= high)
        sx, sy, tx, ty = a.x + a.w, a.y + a.h / 2, b.x + b.w, b.y + b.h / 2
        bulge = right + 20 + 14 * loop_index  # where the curve's middle passes: right of every node it goes by
        control = (bulge - 0.125 * (sx + tx)) / 0.75
        return f"M{sx:.1f} {sy:.1f}C{control:.1f} {sy:.1f} {control:.1f} {ty:.1f} {tx + 2:.1f} {ty:.1f}", bulge + 4, (sy + ty) / 2
    sx, sy, tx, ty = a.cx, a.y + a.h, b.cx, b.y - 2
    mid = (sy + ty) / 2
    between = [box for box in lay.boxes.values() if a.layer < box.layer < b.layer]
    if any(box.x - 8 < (sx + tx) / 2 < box.x + box.w + 8 for box in between):  # would cross a node: round its left side
        side = min(box.x for box in between) - 14
        control = (side - 0.125 * (sx + tx)) / 0.75  # the curve's middle then passes at ``side``
        return f"M{sx:.1f} {sy:.1f}C{control:.1f} {sy + 30:.1f} {control:.1f} {ty - 30:.1f} {tx:.1f} {ty:.1f}", side - 4, mid
    return f"M{sx:.1f} {sy:.1f}C{sx:.1f} {mid:.1f} {tx:.1f} {mid:.1f} {tx:.1f} {ty:.1f}", (sx + tx) / 2, mid


LEGEND = (("running", "running"), ("done", "ran"), ("idle", "not run"), ("failed", "failed"), ("halted", "stopped"))
LEGEND_W = sum(34 + len(word) * 6.2 for _, word in LEGEND)


def _legend(x: float, y: float) -> str:
    """What the colours mean, in one small row."""
    parts = []
    for state, word in LEGEND:
        parts.append(f"<rect x='{x:.1f}' y='{y - 9}' width='12' height='10' rx='2' fill='{FILL[state]}' stroke='{STROKE[state]}'/>"
                     f"<text x='{x + 16:.1f}' y='{y}' font-size='11' fill='#57606a'>{word}</text>")
        x += 34 + len(word) * 6.2
    return "".join(parts)


def svg_style() -> str:
    """The picture's colours by state, as CSS classes: the static SVG and the live view (which only changes classes) share it."""
    rules = [".lk-graph-svg{max-width:100%;height:auto}",  # a narrow panel shrinks the picture instead of cutting it
             ".lk-graph-svg .lk-edge{fill:none;stroke:#8c959f;stroke-width:1.3;marker-end:url(#lk-arrow-idle)}",
             ".lk-graph-svg .lk-edge.taken{stroke:#0969da;stroke-width:2.4;marker-end:url(#lk-arrow-taken)}",
             ".lk-graph-svg .lk-node rect{stroke-width:1.5}",
             ".lk-graph-svg .lk-node.running rect{stroke-width:3;animation:lk-pulse 1.2s infinite}",
             ".lk-graph-svg .lk-node.running .lk-label,.lk-graph-svg .lk-node.failed .lk-label{font-weight:600}",
             "@keyframes lk-pulse{50%{stroke-opacity:.3}}"]
    rules += [f".lk-graph-svg .lk-node.{state} rect{{fill:{FILL[state]};stroke:{STROKE[state]}}}" for state in FILL]
    return "<style>" + "".join(rules) + "</style>"


def edge_key(source: str, target: str) -> str:
    """How an edge is named in the picture (``data-edge``) and in the live view's marks."""
    return f"{source}>{target}"


def render_svg(lay: Layout, hl: Highlight | None = None, *, caption_room: int = 0) -> str:
    """The graph as a standalone SVG (no script, no external fonts): the same in a widget, a saved notebook or a
    screenshot. The running node is amber and pulses; nodes that ran are green, with ×n if several times.

    Each state is a CSS class (``svg_style``) and every node, edge, visit count and the caption carry a ``data-``
    name, so the live view draws this once and then only changes classes and texts. ``caption_room``: characters
    to leave for a caption that will change (the live view's).
    """
    hl = hl or Highlight()
    captioned = bool(hl.caption) or caption_room > 0
    caption_h = 44 if captioned else 0
    w = max(lay.width, max(len(hl.caption), caption_room) * CHAR_W + 2 * MARGIN, LEGEND_W + 2 * MARGIN)
    h = lay.height + caption_h
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='lk-graph-svg' width='{w:.0f}' height='{h:.0f}' viewBox='0 0 {w:.0f} {h:.0f}' "
           "font-family='system-ui, -apple-system, Segoe UI, sans-serif' font-size='13'>", svg_style(),
           "<defs>" + "".join(f"<marker id='lk-arrow-{name}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='8' markerHeight='8' "
                              f"markerUnits='userSpaceOnUse' orient='auto'><path d='M0 0L10 5L0 10z' fill='{colour}'/></marker>"
                              for name, colour in (("idle", "#8c959f"), ("taken", "#0969da"))) + "</defs>",
           f"<g transform='translate({(w - lay.width) / 2:.1f} 0)'>"]
    loops = 0
    for edge in lay.edges:
        is_loop = (edge.source, edge.target) in lay.back_edges or lay.boxes[edge.source].layer >= lay.boxes[edge.target].layer
        d, lx, ly = _edge_path(lay, edge, loops)
        loops += is_loop
        taken = " taken" if (edge.source, edge.target) in hl.taken else ""
        dash = " stroke-dasharray='5 4'" if edge.conditional else ""
        out.append(f"<path class='lk-edge{taken}' data-edge='{xml_escape(edge_key(edge.source, edge.target), ATTR)}' d='{d}'{dash}/>")
        if edge.label and edge.label != edge.target:  # beside the edge, on the side it leans to
            left = lay.boxes[edge.target].cx < lay.boxes[edge.source].cx and not is_loop and "C-" not in d
            out.append(f"<text x='{lx + (-7 if left else 7):.1f}' y='{ly + 4:.1f}' font-size='11' fill='#57606a' "
                       f"text-anchor='{'end' if left else 'start'}'>{xml_escape(edge.label)}</text>")
    for box in lay.boxes.values():
        state = hl.states.get(box.id, "idle")
        rx = box.h / 2 if is_terminal(box.id) else 6
        visits = hl.visits.get(box.id, 0)
        out.append(f"<g class='lk-node {state}' data-node='{xml_escape(box.id, ATTR)}'><rect x='{box.x}' y='{box.y}' width='{box.w:.1f}' "
                   f"height='{box.h}' rx='{rx}'/><text class='lk-label' x='{box.cx:.1f}' y='{box.y + box.h / 2 + 4.5:.1f}' "
                   f"text-anchor='middle' fill='#24292f'>{xml_escape(box.label)}</text>"
                   f"<text data-visits='' x='{box.x + box.w - 4:.1f}' y='{box.y - 3:.1f}' text-anchor='end' font-size='11' "
                   f"fill='#57606a'>{f'×{visits}' if visits > 1 else ''}</text></g>")
    out.append("</g>")
    if captioned:
        out.append(f"<text data-caption='' x='{MARGIN}' y='{h - 28:.0f}' fill='#24292f' font-weight='600'>{xml_escape(hl.caption)}</text>")
        out.append(_legend(MARGIN, h - 10))
    out.append("</svg>")
    return "".join(out)


__all__ = ["Box", "GraphEdge", "Highlight", "Layout", "edge_key", "layout", "read_graph", "render_svg", "svg_style"]
