"""Streamed text in one widget whose appended text travels as deltas: each character is sent once.

Core widgets can only resend a whole value, so a growing text costs O(n²) bytes (or, split into
segments of widgets, ~1.5× plus a widget per segment). ``StreamText`` is an anywidget (its ES module,
``static/stream_text.js``, ships in the package: no internet, no build step) with one synced trait,
``value``, the whole text. A flush sends only what was appended, as a custom message ``[at, text]``
(``at``: where it starts, in UTF-16 units as the browser counts). The browser appends it to its DOM
and to its own copy of ``value``, so a second view of the same output and a notebook saved from the
browser hold the whole text.

The kernel keeps ``value`` current too, but without sending it (ipywidgets' ``_lock_property``, the
lock it holds while applying the browser's own updates, so the change is not echoed back;
``tests/test_panels.py`` has a canary). So a view opened later (a reload asks the kernel for every
widget's state) gets the whole text, once. A view that sees a delta start past its end (it missed
one) asks for the rest: ``{"from": length}``, answered with one delta from there.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .style import SHARED_LAYOUT

ESM = Path(__file__).parent / "static" / "stream_text.js"


def utf16_units(text: str) -> int:
    """The length a browser gives ``text`` (characters outside the BMP, e.g. emoji, count two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def whole_characters(text: str) -> str:
    """``text`` with any lone surrogate (half an emoji, from a broken escape) as U+FFFD: no message can carry one."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class StreamText(anywidget.AnyWidget):
    """A growing text: ``append`` it as it arrives, ``sync`` sends what is new (the dashboard's flusher calls it)."""

    _esm = ESM
    value = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *css_classes: str, text: str = "") -> None:
        """``text``: what is there already, sent in the opening message (no delta needed for it)."""
        super().__init__(value=text, layout=SHARED_LAYOUT, _dom_classes=css_classes or ("lk-text",))
        self._pending: list[str] = []
        self._units = utf16_units(text)  # len(value) as the browser counts it
        self.on_msg(self._answer)

    @property
    def text(self) -> str:
        """Everything appended so far, sent or not (what the text form shows)."""
        return self.value + "".join(self._pending)

    def append(self, text: str) -> None:
        if text:
            self._pending.append(whole_characters(text))

    def sync(self) -> None:
        """Send what was appended since the last sync as one delta; keep ``value`` whole without resending it."""
        if not self._pending:
            return
        added = "".join(self._pending)
        self._pending.clear()
        at = self._units
        self._set_quietly(self.value + added)
        self._units += utf16_units(added)
        self.send([at, added])

    def _set_quietly(self, value: str) -> None:
        """Update the kernel's ``value`` without an update message (the browser builds it from deltas)."""
        with self._lock_property(value=value):
            self.value = value

    def _answer(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """A view missed a delta and asks for the text from its end: send it the rest as one delta."""
        start = content.get("from") if isinstance(content, dict) else None
        if isinstance(start, int) and 0 <= start < self._units:
            rest = self.value.encode("utf-16-le", "surrogatepass")[2 * start:].decode("utf-16-le", "surrogatepass")
            self.send([start, rest])
