"""The graph panel's live view: the picture is sent once, then each change sends only its marks.

Redrawing the SVG on every node start and end resent the whole picture (3-4 KB) each time. The picture
(``graph_layout.render_svg``) names every node, edge, visit count and the caption (``data-`` attributes)
and styles states by CSS class, so this anywidget (its ES module, ``static/graph_view.js``, ships in
the package) holds two synced traits: ``svg``, drawn once per graph, and ``marks`` (node states, visit
counts, edges taken, caption: a few hundred bytes), which the browser applies by setting classes and texts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .graph_layout import Highlight, edge_key

ESM = Path(__file__).parent / "static" / "graph_view.js"


def marks(highlight: Highlight) -> dict[str, Any]:
    """What the browser needs to show ``highlight`` on a picture it already has (JSON-ready, sorted: stable bytes)."""
    return {
        "states": dict(sorted(highlight.states.items())), "visits": dict(sorted(highlight.visits.items())),
        "taken": sorted(edge_key(a, b) for a, b in highlight.taken), "caption": highlight.caption,
    }


class GraphView(anywidget.AnyWidget):
    """The picture (``svg``, set when the graph changes) and its marks (``marks``, set as the run moves)."""

    _esm = ESM
    svg = traitlets.Unicode("").tag(sync=True)
    marks = traitlets.Dict().tag(sync=True)
