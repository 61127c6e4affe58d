"""The tool-decisions panel: one card per tool the model chose, filled in as the tool runs."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Mapping

import ipywidgets as widgets

from ..agent import REJECTED_TOOL_CALL
from ..stream.events import RunEnd, RunStart, StreamEvent, ToolDecision, ToolEnd, ToolStart
from .base import Panel
from .sections import RunSections, Section, box_headings
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
    cut_short: str | None = None  # "stopped": the run ended (Stop, an error) before the tool finished; "paused": at an interrupt

    @property
    def latency(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started

    @property
    def rejected(self) -> bool:
        """A person said no at the review: not a failure of the tool, which never ran."""
        return self.error is not None and self.error.startswith(REJECTED_TOOL_CALL)

    def state(self) -> str:
        if self.error is not None:
            return "rejected" if self.rejected else "failed"
        if self.ended is not None:
            return "done"
        if self.cut_short is not None:
            return self.cut_short
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
            body.append(f"<div class='lk-pre {'lk-muted' if self.rejected else 'lk-error'}'>{escape(preview(self.error))}</div>")
        elif self.result is not None:
            body.append(f"<div class='lk-pre lk-muted'>{escape(preview(self.result))}</div>")
        return "".join(body)


class ToolDecisionsPanel(Panel):
    """Which tool the model chose, with what arguments, what came back, how long it took."""

    def __init__(self) -> None:
        self.decisions: dict[str, _Decision] = {}
        self.placeholder = self._placeholder()
        self.cards = widgets.VBox([self.placeholder])
        self.sections = RunSections(box_headings(self.cards))
        self._dirty: set[str] = set()
        self.edited: dict[str, Mapping[str, Any]] = {}  # tool_call_id → the arguments a person changed it to at a pause
        self.widget = titled("Tool decisions", self.cards, css_class="lk-tool-decisions")

    @staticmethod
    def _placeholder() -> widgets.HTML:
        """Until the model calls a tool the column (or the run's part of it) says so, instead of standing empty."""
        return widgets.HTML(value="<span class='lk-muted'>no tool calls</span>", layout=CARD_LAYOUT,
                        style=SHARED_HTML_STYLE, _dom_classes=("lk-card", "lk-no-tools"))

    def begin_run(self, label: str) -> None:
        self._opened(self.sections.begin(label))

    def _opened(self, new_section: bool) -> bool:
        if new_section:  # the new run's part says "no tool calls" until it has one
            self.placeholder = self._placeholder()
            self.cards.children = (*self.cards.children, self.placeholder)
        return new_section

    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, RunStart):
            return self._opened(self.sections.start(event))
        if isinstance(event, RunEnd):
            return self._cut_short({"cancelled": "stopped", "error": "stopped", "interrupted": "paused"}.get(event.status))
        tool_call_id = event.tool_call_id if isinstance(event, (ToolDecision, ToolStart, ToolEnd)) else ""
        key = self.sections.live.get(tool_call_id)
        if key is None and isinstance(event, (ToolStart, ToolEnd)):
            key = self._carried(tool_call_id, event.args if isinstance(event, ToolStart) else None)
        if isinstance(event, ToolDecision):
            key = self._add(event)
        elif isinstance(event, ToolStart) and key is not None:
            self.decisions[key].started = event.t
        elif isinstance(event, ToolEnd) and key is not None:  # the adapter paired it: ``started`` is its start's time
            item = self.decisions[key]
            item.started = next(t for t in (event.started, item.started, event.t) if t is not None)
            item.ended, item.result, item.error = event.t, event.result, event.error
        else:
            return False
        self._dirty.add(key)
        return True

    def _add(self, decision: ToolDecision) -> str:
        card = widgets.HTML(layout=CARD_LAYOUT, style=SHARED_HTML_STYLE, _dom_classes=("lk-card", "lk-decision"))
        key = self.sections.add(decision.tool_call_id, self.decisions)
        self.decisions[key] = _Decision(decision, card)
        shown = tuple(c for c in self.cards.children if c is not self.placeholder)
        self.cards.children = (*shown, card)
        return key

    def add_controls(self, controls: widgets.Widget) -> None:
        """The Approve / Reject / Edit box under the run's waiting cards (widget only: the text form is unchanged)."""
        self.cards.children = (*self.cards.children, controls)

    def _carried(self, tool_call_id: str, args: Mapping[str, Any] | None = None) -> str | None:
        """A tool decided in an earlier run runs in this one (continuing after a Stop, or approved): it gets a card here too.

        With the arguments it runs with, when they are known: a person may have edited them at the pause.
        """
        earlier = next((d for d in reversed(self.decisions.values()) if tool_call_id and d.decision.tool_call_id == tool_call_id), None)
        if earlier is None:
            return None
        args = args or self.edited.pop(tool_call_id, None)  # once: a replayed recording may repeat the id
        return self._add(replace(earlier.decision, args=args) if args else earlier.decision)

    def _cut_short(self, state: str | None) -> bool:
        """The run ended before some tools it decided on finished: their cards say so."""
        if state is None:
            return False
        unfinished = [key for key in self.sections.current.keys if self.decisions[key].ended is None]
        for key in unfinished:
            self.decisions[key].cut_short = state
            self._dirty.add(key)
        return bool(unfinished)

    def _numbers(self) -> dict[str, int]:
        """Each decision's number within its run (the text form of one run counts from 1 too)."""
        return {key: n for section in self.sections.sections for n, key in enumerate(section.keys, 1)}

    def sync(self) -> None:
        numbers = self._numbers()
        for key in self._dirty:
            item = self.decisions[key]
            item.card.value = item.html(numbers[key])
            if item.error is not None and not item.rejected:
                item.card.add_class("lk-failed")
        self._dirty.clear()

    def text(self, run: int | None = None) -> str:
        """One line per decision, under its run's heading if there are several (``run``: only that run's, 0-based)."""
        return self.sections.text(self._lines, "Tool decisions: none", "no tool calls", run)

    def _lines(self, section: Section) -> list[str]:
        lines = []
        for n, item in enumerate((self.decisions[key] for key in section.keys), 1):
            d = item.decision
            step = f" step {d.step}" if d.step is not None else ""
            lines.append(f"{n}. {d.tool} {format_args(d.args)} ← {d.node}{step} · {item.state()}")
            if item.error is not None:
                lines.append(f"   error: {preview(item.error, 160)}")
            elif item.result is not None:
                lines.append(f"   result: {preview(item.result, 160)}")
        return lines
