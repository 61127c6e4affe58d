"""Append-only text in core widgets, so the bytes sent grow with the text, not with its square.

Setting ``HTML.value`` resends the whole value, so a growing transcript in one widget costs
O(n²) bytes. Here the text lives in segments shown inline: only the last (open) segment is rewritten
on a flush, and once a segment has been sent with ``segment_limit()`` characters or more it is never
sent again.
The segment size balances the two costs: rewriting the open segment each flush, and opening one
more widget (see ``segment_limit``).
"""
from __future__ import annotations

import html
import math

import ipywidgets as widgets

from .lean import LeanBox, LeanHTML
from .style import SHARED_HTML_STYLE

SEGMENT_OPEN_BYTES = 600  # what one more segment costs to send: its lean widget, and its place in a row (measured)
SEGMENTS_PER_ROW = 5  # segments sit in rows, so adding one resends a short children list, not all of them


class Segment(LeanHTML):
    """One piece of the text: syncs only its value, layout, style and model names (no CSS classes either)."""

    unsynced = LeanHTML.unsynced | {"_dom_classes"}


# Shared by every segment, so a new segment opens one widget model, not three.
_SEGMENT_LAYOUT = widgets.Layout(margin="0")
_ROW_LAYOUT = widgets.Layout(display="inline")
_TEXT_LAYOUT = widgets.Layout(display="block")


def escape(text: str) -> str:
    return html.escape(text, quote=False)


class AppendOnlyText:
    """A box of HTML segments showing one growing text; ``sync()`` pushes what is new."""

    def __init__(self, *css_classes: str) -> None:
        self.box = LeanBox(layout=_TEXT_LAYOUT, _dom_classes=css_classes or ("lk-text",))
        self._frozen: list[str] = []  # texts of segments already sent in full
        self._open = ""  # text of the last segment, sent on the next sync
        self._sent_open = ""
        self._segments: list[widgets.HTML] = []
        self._added_per_sync = 0.0  # moving average of characters added between syncs
        self._syncs = 0

    @property
    def value(self) -> str:
        return "".join(self._frozen) + self._open

    def append(self, text: str) -> None:
        self._open += text

    def segment_limit(self) -> int:
        """When to freeze the open segment: the size that minimises bytes per character.

        With ``a`` new characters per flush, a segment of size T costs SEGMENT_OPEN_BYTES once plus
        about T²/2a in rewrites, i.e. SEGMENT_OPEN_BYTES/T + T/2a per character: least at
        T = √(2·a·SEGMENT_OPEN_BYTES). Slow streams get small segments, fast streams large ones.
        """
        return int(min(4000, max(120, math.sqrt(2 * self._added_per_sync * SEGMENT_OPEN_BYTES))))

    def sync(self) -> None:
        """Push what is new; freeze a full open segment as it was sent and start the next one."""
        if self._open == self._sent_open:
            return
        added = len(self._open) - len(self._sent_open)
        self._added_per_sync = 0.7 * self._added_per_sync + 0.3 * added if self._syncs else float(added)
        self._syncs += 1
        if self._segments and len(self._sent_open) >= self.segment_limit():
            self._frozen.append(self._sent_open)
            self._open = self._open[len(self._sent_open):]
            self._sent_open = ""
            self._segments.append(self._new_segment(self._open))
        elif self._segments:
            self._segments[-1].value = escape(self._open)
        else:
            self._segments.append(self._new_segment(self._open))
        self._sent_open = self._open

    def _new_segment(self, text: str) -> widgets.HTML:
        """Open a segment with its text in the same message, and show it at the end of the last row."""
        segment = Segment(value=escape(text), layout=_SEGMENT_LAYOUT, style=SHARED_HTML_STYLE)
        rows = self.box.children
        if rows and len(rows[-1].children) < SEGMENTS_PER_ROW:
            rows[-1].children = (*rows[-1].children, segment)
        else:  # a new row opens with its first segment already in it
            self.box.children = (*rows, LeanBox([segment], layout=_ROW_LAYOUT, _dom_classes=("lk-row",)))
        return segment
