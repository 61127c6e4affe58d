"""The timings panel: a table of model and tool calls, and a timeline of them on one time axis."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import ipywidgets as widgets

from ..stream.cost import Price, Unknown, cost_parts
from ..stream.events import ModelEnd, RunEnd, RunStart, StreamEvent, ToolEnd
from ..stream.timings import CallTiming, RunTimings, compute_timings, format_seconds, format_timings
from .base import Panel
from .sections import RunSections, Section, box_headings
from .style import titled
from .text import escape

ROW_H, LABEL_W, WIDTH = 22, 170, 720


def _seconds(value: float | None) -> str:
    return "–" if value is None else format_seconds(value)  # the table marks unknowns with an en dash


def call_note(call: CallTiming, timings: RunTimings) -> str:
    """The table's last column: the call's error, or why it has no end (the run was stopped, or failed)."""
    if call.error:
        return call.error
    if call.incomplete and timings.complete:
        return "stopped" if timings.status == "cancelled" else "did not finish"
    return ""


def cost_cell(call: CallTiming) -> str:
    """A call's price, with what it was priced as (or why it has none) on hover; empty for a tool."""
    cost = call.cost
    if isinstance(cost, Price):
        return f"<td class='num' title='{html.escape(f'priced as {cost.provider} {cost.model}')}'>{cost}</td>"
    if isinstance(cost, Unknown):
        return f"<td class='num lk-muted' title='{html.escape(cost.reason)}'>{escape(cost.short)}</td>"
    return "<td></td>"


def _tokens_in(call: CallTiming) -> str:
    if call.input_tokens is None:
        return "–"
    cached = call.cached_input_tokens
    return f"{call.input_tokens}" + (f" <span class='lk-muted' title='from the prompt cache, priced lower'>({cached} cached)</span>" if cached else "")


def table_html(timings: RunTimings) -> str:
    """One row per call: what it was, when it started, time to first token, duration, tokens, cost; then the turn's cost."""
    rows = []
    for call in timings.calls:
        rate = call.tokens_per_second
        rows.append(
            f"<tr class='lk-{call.kind}'><td>{call.kind}</td><td>{escape(call.label)}</td>"
            f"<td class='num'>{_seconds(call.start - timings.run_start)}</td><td class='num'>{_seconds(call.time_to_first_token)}</td>"
            f"<td class='num'>{_seconds(call.duration)}</td><td class='num'>{_tokens_in(call)}</td>"
            f"<td class='num'>{call.output_tokens if call.output_tokens is not None else '–'}</td>"
            f"<td class='num'>{'–' if rate is None else f'{rate:.1f}'}</td>{cost_cell(call)}<td class='lk-error'>{escape(call_note(call, timings))}</td></tr>"
        )
    head = "<tr><th>call</th><th>what</th><th>starts</th><th>first token</th><th>duration</th><th>in</th><th>out</th><th>tok/s</th><th>cost</th><th></th></tr>"
    return f"<table class='lk-table lk-timing-table'>{head}{''.join(rows)}</table>" + _source_note(timings)


def _source_note(timings: RunTimings) -> str:
    """Under the table: the turn's cost, large enough to notice, and which price table it comes from."""
    turn = timings.cost
    if not turn.priced + turn.unpriced:
        return ""
    amount, detail = cost_parts(turn)
    return (f"<div class='lk-cost-note' style='margin:4px 0 6px;font-size:13px'>This turn cost <b>{escape(amount)}</b>"
            f"<span class='lk-muted'>{escape(detail)}</span></div>")


def timeline_svg(timings: RunTimings) -> str:
    """Model and tool calls as bars on one axis; a model bar is pale until its first token.

    Colours and fonts come from classes in the panels' stylesheet (``style.TIMELINE_CSS``), so the picture
    resent after each call carries coordinates, not the same attributes on every element.
    """
    calls = list(timings.calls)
    span = max(timings.run_end - timings.run_start, 1e-6)
    scale = (WIDTH - LABEL_W - 10) / span
    height = ROW_H * (len(calls) + 1) + 8
    ticks = [LABEL_W + i * (WIDTH - LABEL_W - 10) / 4 for i in range(5)]
    parts = [f"<svg class='lk-timeline' xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' viewBox='0 0 {WIDTH} {height}'>"]
    parts.append("<path class='grid' d='" + "".join(f"M{x:.0f} 0V{height - 16}" for x in ticks) + "'/>")
    # the last tick's label ends at its tick: centred, it would run past the picture's right edge and be cut off
    parts += [f"<text class='tick{' last' if i == 4 else ''}' x='{x:.0f}' y='{height - 4}'>{span * i / 4:.2f} s</text>"
              for i, x in enumerate(ticks)]
    bar = ROW_H - 6
    for row, call in enumerate(calls):
        y = row * ROW_H + 4
        x0 = LABEL_W + (call.start - timings.run_start) * scale
        width = max((call.end - call.start) * scale, 2)
        kind = "failed" if call.error else call.kind
        kind += " stopped" if call.incomplete and timings.complete else ""
        parts.append(f"<text x='4' y='{y + 14}'>{escape(call.kind)} · {escape(call.label)[:22]}</text>")
        if call.kind == "model":
            parts.append(f"<rect class='{kind} wait' x='{x0:.1f}' y='{y}' width='{width:.1f}' height='{bar}' rx='3'/>")
            if call.first_token is not None:
                gx = LABEL_W + (call.first_token - timings.run_start) * scale
                parts.append(f"<rect class='{kind}' x='{gx:.1f}' y='{y}' width='{max(x0 + width - gx, 1):.1f}' height='{bar}' rx='3'/>")
        else:
            parts.append(f"<rect class='{kind}' x='{x0:.1f}' y='{y}' width='{width:.1f}' height='{bar}' rx='3'/>")
    parts.append("</svg>")
    return "".join(parts)


LEGEND = (
    "<div class='lk-legend'><span class='model'>■</span> model (pale: waiting for the first token) "
    "<span class='tool'>■</span> tool <span class='failed'>■</span> failed</div>"
)


@dataclass
class _RunView:
    """One run's part of the panel: its events, their timings, its table and timeline."""

    table: widgets.HTML
    timeline: widgets.HTML
    events: list[StreamEvent] = field(default_factory=list)
    timings: RunTimings | None = None
    stale: bool = False


class TimingsPanel(Panel):
    """Recomputed when a call ends (not per token): the table, the timeline, the totals; one part per run."""

    def __init__(self) -> None:
        self.runs = [self._view()]
        self.body = widgets.VBox([self.table, self.timeline])
        self.sections = RunSections(box_headings(self.body))
        self.widget = titled("Timings", self.body, css_class="lk-timings")

    @staticmethod
    def _view() -> _RunView:
        return _RunView(widgets.HTML(value="<span class='lk-muted'>no calls yet</span>"), widgets.HTML())

    # the newest run's part (what a panel of one run shows)
    @property
    def table(self) -> widgets.HTML:
        return self.runs[-1].table

    @property
    def timeline(self) -> widgets.HTML:
        return self.runs[-1].timeline

    @property
    def events(self) -> list[StreamEvent]:
        return self.runs[-1].events

    @property
    def timings(self) -> RunTimings | None:
        return self.runs[-1].timings

    def begin_run(self, label: str) -> None:
        self._opened(self.sections.begin(label))

    def _opened(self, new_section: bool) -> bool:
        if new_section:
            self.runs.append(self._view())
            self.body.children = (*self.body.children, self.table, self.timeline)
        return new_section

    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, RunStart):
            self._opened(self.sections.start(event))
        view = self.runs[-1]
        view.events.append(event)
        if isinstance(event, (ModelEnd, ToolEnd, RunEnd)):
            view.stale = True
            return True
        return False

    def sync(self) -> None:
        for view in self.runs[-2:]:  # an earlier run's part may still wait for its last sync
            if view.stale:
                view.stale = False
                view.timings = compute_timings(view.events)
                view.table.value = table_html(view.timings)
                view.timeline.value = timeline_svg(view.timings) + LEGEND

    def text(self, run: int | None = None) -> str:
        """The timings table, under each run's heading if there are several (``run``: only that run's, 0-based)."""
        return self.sections.text(self._lines, "Timings: no calls yet", "Timings: no calls yet", run)

    def _lines(self, section: Section) -> list[str]:
        view = self.runs[self.sections.sections.index(section)]
        timings = compute_timings(view.events) if view.stale else view.timings  # not synced yet: as it will be
        return format_timings(timings).splitlines() if timings else []


__all__ = ["TimingsPanel", "table_html", "timeline_svg"]
