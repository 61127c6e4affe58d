"""The token panel's live view: one widget per panel; cards, run headings and streamed text travel as ops.

One anywidget (its ES module, ``static/token_view.js``, ships in the package: no internet, no build
step) shows every model call of every run, so its module crosses once per dashboard, when the
dashboard is shown, instead of once per streamed answer. Its one synced trait, ``panel``, is
``{"seq": n, "items": [...]}``: run headings (``{"run": text}``) and call cards (``{"label", "model",
"status", "text", "args": [[tool, text], ...]}``).

What changes travels as ops (``apply_ops`` says what each does; the browser's copy does the same), one
message per flush: ``[seq, ops]``, or ``[seq]`` with the ops as deflate-compressed JSON in a binary
buffer when that is smaller (``pack``); each appended character crosses once, compressed. The kernel
applies the ops to ``panel`` in place: traitlets do not see in-place changes, so nothing is echoed,
and a view opened later (a second view, a reload's state request) gets the panel as it stands. A
view that sees a batch past the next one (it missed one) asks ``{"resync": seq}`` and gets the whole
panel once.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .style import SHARED_LAYOUT

ESM = Path(__file__).parent / "static" / "token_view.js"

Op = list[Any]
"""``["run", first, text]`` a run heading (``first``: 1 above everything, the first run's; else last);
``["card", label, model, status]`` a new call card, last; ``["status", i, status]`` item ``i``'s status;
``["text", i, text]`` appended to item ``i``'s answer; ``["args", i, k, tool, text]`` appended to its
``k``-th tool call's arguments (``k`` one past the last opens it)."""


def whole_characters(text: str) -> str:
    """``text`` with any lone surrogate (half an emoji, from a broken escape) as U+FFFD: no message can carry one."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def apply_ops(items: list[dict[str, Any]], ops: list[Op]) -> None:
    """Apply ``ops`` to ``items`` in place (``token_view.js`` mirrors this, op for op)."""
    for op in ops:
        kind = op[0]
        if kind == "run":
            items.insert(0 if op[1] else len(items), {"run": op[2]})
        elif kind == "card":
            items.append({"label": op[1], "model": op[2], "status": op[3], "text": "", "args": []})
        elif kind == "status":
            items[op[1]]["status"] = op[2]
        elif kind == "text":
            items[op[1]]["text"] += op[2]
        elif kind == "args":
            args = items[op[1]]["args"]
            if op[2] == len(args):
                args.append([op[3], ""])
            args[op[2]][1] += op[4]


def merge(pending: list[Op], op: Op) -> None:
    """Queue ``op``, joining it to the last one when both append to the same text (a flush's tokens become one op)."""
    last = pending[-1] if pending else None
    if last is not None and op[0] in ("text", "args") and last[:-1] == op[:-1]:
        last[-1] += op[-1]
    else:
        pending.append(list(op))


def pack(seq: int, ops: list[Op]) -> tuple[list[Any], list[bytes]]:
    """One flush's message: the ops inline, or deflated (raw deflate, as the browser's DecompressionStream reads it) if smaller."""
    raw = json.dumps(ops, ensure_ascii=False, separators=(",", ":")).encode()
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = deflate.compress(raw) + deflate.flush()
    return ([seq], [packed]) if len(packed) < len(raw) else ([seq, ops], [])


class TokenView(anywidget.AnyWidget):
    """The token panel as the browser shows it: ``add`` ops as events arrive, ``sync`` sends them (the flusher calls it)."""

    _esm = ESM
    panel = traitlets.Dict().tag(sync=True)

    def __init__(self) -> None:
        super().__init__(panel={"seq": 0, "items": []}, layout=SHARED_LAYOUT, _dom_classes=("lk-token-cards",))
        self._pending: list[Op] = []
        self._keys: list[str | None] = []  # per item, shown or pending: its card's key (None: a heading)
        self.on_msg(self._answer)

    @property
    def items(self) -> list[dict[str, Any]]:
        """What the browser shows after the last sync."""
        return self.panel["items"]

    def heading(self, text: str, first: bool = False) -> None:
        """A run's heading: last, or (``first``) above everything, for the first run once a second one starts."""
        self._keys.insert(0 if first else len(self._keys), None)
        merge(self._pending, ["run", int(first), text])

    def card(self, key: str, label: str, model: str | None, status: str) -> None:
        self._keys.append(key)
        merge(self._pending, ["card", label, model, status])

    def status(self, key: str, status: str) -> None:
        merge(self._pending, ["status", self._keys.index(key), status])

    def text(self, key: str, text: str) -> None:
        """Append to the card's answer (``text``: whole characters, see ``whole_characters``; TokenPanel passes them so)."""
        if text:
            merge(self._pending, ["text", self._keys.index(key), text])

    def args(self, key: str, k: int, tool: str, text: str) -> None:
        """Append to the card's ``k``-th tool call's arguments (``k`` one past the last opens it, named ``tool``)."""
        merge(self._pending, ["args", self._keys.index(key), k, tool, text])

    def sync(self) -> None:
        """Send what was added since the last sync as one message, and keep ``panel`` current without resending it."""
        if not self._pending:
            return
        ops, self._pending = self._pending, []
        apply_ops(self.panel["items"], ops)
        self.panel["seq"] += 1
        self.send(*pack(self.panel["seq"], ops))

    def _answer(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """A view missed a batch: send it (and every view) the whole panel once."""
        if isinstance(content, dict) and "resync" in content:
            self.send_state("panel")
