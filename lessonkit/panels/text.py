"""Append-only text in core widgets, so the bytes sent grow with the text, not with its square.

Setting ``HTML.value`` resends the whole value, so a growing transcript in one widget costs
O(n²) bytes. Here the text lives in segments: only the last (open) segment is rewritten on a flush,
and a segment is frozen once it reaches ``SEGMENT_CHARS``, after which it is never sent again.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

SEGMENT_CHARS = 600
_SEGMENT_LAYOUT = widgets.Layout(margin="0")  # shared: a new segment does not open a new Layout model


def escape(text: str) -> str:
    return html.escape(text, quote=False)


class AppendOnlyText:
    """A box of HTML segments showing one growing text; ``sync()`` pushes what is new."""

    def __init__(self, css_class: str = "lk-text") -> None:
        self.box = widgets.Box(layout=widgets.Layout(display="block"))
        self.box.add_class(css_class)
        self._frozen: list[str] = []  # texts of segments already sent in full
        self._open = ""  # text of the last segment, sent on the next sync
        self._sent_open = ""
        self._segments: list[widgets.HTML] = []

    @property
    def value(self) -> str:
        return "".join(self._frozen) + self._open

    def append(self, text: str) -> None:
        self._open += text

    def sync(self) -> None:
        """Push changes: rewrite the open segment, roll over into new segments when it is full."""
        while len(self._open) > SEGMENT_CHARS:
            cut = self._open.rfind(" ", 0, SEGMENT_CHARS) + 1 or SEGMENT_CHARS
            self._write(self._open[:cut])
            self._frozen.append(self._open[:cut])
            self._open, self._sent_open = self._open[cut:], ""
            self._segments.append(self._new_segment())
        if self._open != self._sent_open:
            self._write(self._open)
            self._sent_open = self._open

    def _new_segment(self) -> widgets.HTML:
        segment = widgets.HTML(layout=_SEGMENT_LAYOUT)
        segment.add_class("lk-seg")
        self.box.children = (*self.box.children, segment)
        return segment

    def _write(self, text: str) -> None:
        if not self._segments:
            self._segments.append(self._new_segment())
        self._segments[-1].value = escape(text)
