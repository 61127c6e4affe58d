"""The tool-decisions panel: one card per tool the model chose, filled in as the tool runs."""
from __future__ import annotations

import json
from dataclasses import dataclass

import ipywidgets as widgets

from ..stream.events import StreamEvent, ToolDecision, ToolEnd, ToolStart
from .base import Panel
from .lean import LeanHTML
from .style import CARD_LAYOUT, SHARED_HTML_STYLE, titled
from .text import escape

PREVIEW_CHARS = 240


def format_args(args: object) -> str:
    return json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Decision:
    decision: ToolDecision
    card: widgets.HTML
    started: float | None = None
    ended: float | None = None
    result: str | None = None
    error: str | None = None

    @property
    def latency(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started

    def state(self) -> str:
        if self.error is not None:
            return "failed"
        if self.ended is not None:
            return "done"
        return "running…" if self.started is not None else "decided"

    def html(self, number: int) -> str:
        d = self.decision
        latency = f" · {self.latency:.2f} s" if self.latency is not None else ""
        body = [
            f"<div class='lk-head'><b>{number}. {escape(d.tool)}</b> · asked by {escape(d.node)}"
            f"{' step ' + str(d.step) if d.step is not None else ''} · <span class='lk-status'>{self.state()}</span>{latency}</div>",
            f"<div class='lk-pre lk-args'>{escape(format_args(d.args))}</div>",
        ]
        if self.error is not None:
            body.append(f"<div class='lk-pre lk-error'>{escape(preview(self.error))}</div>")
        elif self.result is not None:
            body.append(f"<div class='lk-pre lk-muted'>{escape(preview(self.result))}</div>")
        return "".join(body)


class ToolDecisionsPanel(Panel):
    """Which tool the model chose, with what arguments, what came back, how long it took."""

    def __init__(self) -> None:
        self.decisions: dict[str, _Decision] = {}
        # Until the model calls a tool the column says so, instead of standing empty.
        self.placeholder = LeanHTML(value="<span class='lk-muted'>no tool calls</span>", layout=CARD_LAYOUT,
                                    style=SHARED_HTML_STYLE, _dom_classes=("lk-card", "lk-no-tools"))
        self.cards = widgets.VBox([self.placeholder])
        self._dirty: set[str] = set()
        self.widget = titled("Tool decisions", self.cards, css_class="lk-tool-decisions")

    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, ToolDecision):
            card = LeanHTML(layout=CARD_LAYOUT, style=SHARED_HTML_STYLE, _dom_classes=("lk-card", "lk-decision"))
            self.decisions[event.tool_call_id] = _Decision(event, card)
            shown = tuple(c for c in self.cards.children if c is not self.placeholder)
            self.cards.children = (*shown, card)
            key = event.tool_call_id
        elif isinstance(event, ToolStart) and event.tool_call_id in self.decisions:
            self.decisions[event.tool_call_id].started = event.t
            key = event.tool_call_id
        elif isinstance(event, ToolEnd) and event.tool_call_id in self.decisions:
            item = self.decisions[event.tool_call_id]
            item.ended, item.result, item.error = event.t, event.result, event.error
            if item.started is None:
                item.started = event.t
            key = event.tool_call_id
        else:
            return False
        self._dirty.add(key)
        return True

    def sync(self) -> None:
        numbers = {key: n for n, key in enumerate(self.decisions, 1)}
        for key in self._dirty:
            item = self.decisions[key]
            item.card.value = item.html(numbers[key])
            if item.error is not None:
                item.card.add_class("lk-failed")
        self._dirty.clear()

    def text(self, only: set[str] | None = None) -> str:
        """One line per decision (``only``: just these tool call ids, e.g. one run's)."""
        items = [d for key, d in self.decisions.items() if only is None or key in only]
        if not items:
            return "Tool decisions: none"
        lines = []
        for n, item in enumerate(items, 1):
            d = item.decision
            step = f" step {d.step}" if d.step is not None else ""
            lines.append(f"{n}. {d.tool} {format_args(d.args)} ← {d.node}{step} · {item.state()}")
            if item.error is not None:
                lines.append(f"   error: {preview(item.error, 160)}")
            elif item.result is not None:
                lines.append(f"   result: {preview(item.result, 160)}")
        return "\n".join(lines)
