"""The graph panel: the agent's graph, drawn offline, with the node that is running now highlighted.

A student sees the loop happen: ``llm`` lights up while the model thinks, ``tools`` while the search
runs, then ``llm`` again, and the edges the run took turn blue. The drawing is an SVG laid out here
(``graph_layout``), never a picture fetched from a web service. The same panel also offers LangGraph's
own Mermaid text (``text/vnd.mermaid``, which JupyterLab 4.1+ draws by itself) for front ends without widgets.
"""
from __future__ import annotations

from typing import Any


from ..stream.events import NodeEnd, NodeStart, RunEnd, RunStart, StreamEvent
from .base import Panel
from .graph_layout import END, START, GraphEdge, Highlight, Layout, is_terminal, layout, read_graph, render_svg
from .graph_view import GraphView, marks
from .style import titled
from .text import escape

MAX_PATH = 16  # longer paths show their start and end: a looping run stays one line
ENDED = {"done": "done", "interrupted": "paused at {}", "cancelled": "stopped in {}", "error": "failed in {}"}
MERMAID_CLASSES = {"running": "fill:#ffe08a,stroke:#d4a000,stroke-width:3px", "done": "fill:#dff3e3,stroke:#2da44e",
                   "failed": "fill:#ffd7d5,stroke:#cf222e", "halted": "fill:#ffe8cc,stroke:#bc4c00"}


def caption_room(nodes: list[str]) -> int:
    """Characters the live picture keeps for its caption (``running: a, b``, ``stopped in research:llm``)."""
    return max(32, 14 + 2 * max((len(n) for n in nodes), default=0))


def node_id(node: str, namespace: tuple[str, ...], xray: bool) -> str | None:
    """The drawn node an event is about: top-level nodes by name; inside a subgraph only with ``xray`` (``research:llm``)."""
    if not namespace:
        return node
    if not xray:
        return None  # the subgraph's own node (``research``) is highlighted by its own events
    return ":".join([*(part.split(":")[0] for part in namespace), node])


def mermaid_id(node: str) -> str:
    """A node id as LangGraph's ``draw_mermaid`` writes it (letters, digits, _ and - kept; others as ``\\hex``)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "\\" + format(ord(c), "x") for c in node)


class GraphPanel(Panel):
    """The compiled graph as a picture; the running node highlighted while the dashboard streams.

    ``GraphPanel(graph)`` or ``panel.set_graph(graph)`` (a dashboard calls it with the graph it runs);
    ``xray=True`` draws subgraphs' own nodes too (LangGraph's ``get_graph(xray=...)``).
    """

    def __init__(self, graph: Any = None, *, xray: bool = False) -> None:
        self.xray = xray
        self.graph: Any = None
        self.layout: Layout | None = None
        self.mermaid: str | None = None
        self.problem: str | None = None  # why there is no picture (a served agent has no graph object here)
        self._reset()
        self.view = GraphView(svg="<span class='lk-muted'>no graph yet</span>")
        self.widget = titled("Graph", self.view, css_class="lk-graph")
        self.stale = False
        if graph is not None:
            self.set_graph(graph)

    def _reset(self) -> None:
        self.states: dict[str, str] = {}
        self.visits: dict[str, int] = {}
        self.path: list[str] = []
        self.running: dict[str, int] = {}  # node → how many of its tasks run now (parallel branches)
        self.status: str | None = None  # None before a run, then running, done, interrupted, cancelled, error

    # -- the graph -------------------------------------------------------------------------------
    def set_graph(self, graph: Any) -> None:
        """Draw ``graph`` (anything with LangGraph's ``get_graph``); the same graph again keeps the picture."""
        if graph is self.graph:
            return
        self.graph, self.problem = graph, None
        try:
            drawable = graph.get_graph(xray=self.xray)
            nodes, edges = read_graph(drawable)
            self.layout, self.mermaid = layout(nodes, edges), drawable.draw_mermaid()
        except Exception as error:  # a served agent, a plain function: still a working dashboard without the picture
            self.layout = self.mermaid = None
            self.problem = f"{type(graph).__name__} has no drawable graph ({type(error).__name__})"
        self._reset()
        self.widget.layout.display = None if self.layout else "none"  # nothing to draw: no empty box in the dashboard
        self.view.svg = (render_svg(self.layout, caption_room=caption_room(self.nodes)) if self.layout
                         else f"<span class='lk-muted'>{escape(self.problem or 'no graph yet')}</span>")
        self.stale = True
        self.sync()

    @property
    def nodes(self) -> list[str]:
        return list(self.layout.boxes) if self.layout else []

    @property
    def edges(self) -> tuple[GraphEdge, ...]:
        return self.layout.edges if self.layout else ()

    # -- events ----------------------------------------------------------------------------------
    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, RunStart):
            self._reset()
            self.status = "running"
            if START in self.nodes:
                self._visit(START, "done")
            return self._changed()
        if isinstance(event, (NodeStart, NodeEnd)):
            node = node_id(event.node, event.namespace, self.xray)
            if node is None or node not in self.nodes:
                return False
            if isinstance(event, NodeStart):
                self.running[node] = self.running.get(node, 0) + 1
                self._visit(node, "running")
            else:
                if not self.running.get(node):
                    self._visit(node, "done")  # a source that reports only ends (astream without ``tasks``)
                self.running[node] = max(self.running.get(node, 1) - 1, 0)
                self.states[node] = "failed" if event.error else ("running" if self.running[node] else "done")
            return self._changed()
        if isinstance(event, RunEnd):
            self.status = event.status
            for node, count in self.running.items():
                if count:
                    self.states[node] = "halted" if event.status != "error" else "failed"
            if event.status == "done" and END in self.nodes:
                self._visit(END, "done")
            return self._changed()
        return False

    def _visit(self, node: str, state: str) -> None:
        passed = self._passed(self.path[-1], node) if self.path else []
        self.states.update((p, "done") for p in passed)
        self.path += [*passed, node]
        self.visits[node] = self.visits.get(node, 0) + 1
        self.states[node] = state

    def _passed(self, last: str, node: str) -> list[str]:
        """The subgraph entries and exits (never run as nodes) between two nodes that ran one after the other."""
        succ: dict[str, list[str]] = {}
        for e in self.edges:
            succ.setdefault(e.source, []).append(e.target)
        if node in succ.get(last, ()):
            return []
        paths = [[m] for m in succ.get(last, ()) if is_terminal(m) and m not in (START, END)]
        while paths:  # breadth first, through entries and exits only
            way = paths.pop(0)
            if node in succ.get(way[-1], ()):
                return way
            paths += [[*way, m] for m in succ.get(way[-1], ()) if is_terminal(m) and m not in way and m not in (START, END) and len(way) < 4]
        return []

    def _changed(self) -> bool:
        self.stale = True
        return True

    def highlight(self) -> Highlight:
        """The picture's state now: node states, visit counts, the edges between consecutive visited nodes."""
        edges = {(e.source, e.target) for e in self.edges}
        taken = {pair for pair in zip(self.path, self.path[1:]) if pair in edges}
        return Highlight(dict(self.states), dict(self.visits), taken, self.state_text())

    # -- output ----------------------------------------------------------------------------------
    def sync(self) -> None:
        if self.stale:
            self.stale = False
            self.view.marks = marks(self.highlight())  # the picture is there: only what changed on it

    def svg(self) -> str:
        """The graph as a standalone SVG, highlighted as the run stands now ('' without a graph)."""
        return render_svg(self.layout, self.highlight()) if self.layout else ""

    def state_text(self) -> str:
        """``running: tools``, ``done``, ``stopped in llm``…; ``not run yet`` before a run."""
        if self.status is None:
            return "not run yet"
        now = [n for n, count in self.running.items() if count]
        if self.status == "running":
            return f"running: {', '.join(now)}" if now else "running"
        where = ", ".join(now) or (self.path[-1] if self.path else "?")
        return ENDED.get(self.status, self.status).format(where)

    def text(self) -> str:
        """``graph: __start__ → llm → tools → llm → __end__ · done``: the path the run took, and where it is now."""
        if not self.layout:
            return f"graph: {self.problem or 'none yet'}"
        if self.status is None:
            return f"graph: {', '.join(self.nodes)} · not run yet"
        path = self.path if len(self.path) <= MAX_PATH else [*self.path[:4], f"… {len(self.path) - 12} more …", *self.path[-8:]]
        return f"graph: {' → '.join(path)} · {self.state_text()}"

    def mermaid_text(self) -> str | None:
        """LangGraph's Mermaid text of the graph, with this run's node states as Mermaid classes."""
        if self.mermaid is None:
            return None
        used = sorted({s for s in self.states.values() if s in MERMAID_CLASSES})
        lines = [f"\tclassDef lk{s} {MERMAID_CLASSES[s]}" for s in used]
        lines += [f"\tclass {mermaid_id(n)} lk{s}" for n, s in self.states.items() if s in MERMAID_CLASSES]
        return self.mermaid.rstrip("\n") + ("\n" + "\n".join(lines) if lines else "") + "\n"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """Widget first; then Mermaid (JupyterLab 4.1+ draws it), the SVG, and the text form for everything else."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.layout:
            bundle["image/svg+xml"] = self.svg()
            bundle["text/vnd.mermaid"] = self.mermaid_text()
        return bundle


__all__ = ["GraphPanel", "mermaid_id", "node_id"]
