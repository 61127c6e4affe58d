"""The timings panel: a table of model and tool calls, and a timeline of them on one time axis."""
from __future__ import annotations

import ipywidgets as widgets

from ..stream.events import ModelEnd, RunEnd, RunStart, StreamEvent, ToolEnd
from ..stream.timings import RunTimings, compute_timings, format_seconds, format_timings
from .base import Panel
from .style import titled
from .text import escape

ROW_H, LABEL_W, WIDTH = 22, 170, 720


def _seconds(value: float | None) -> str:
    return "–" if value is None else format_seconds(value)  # the table marks unknowns with an en dash


def table_html(timings: RunTimings) -> str:
    """One row per call: what it was, when it started, time to first token, duration, tokens."""
    rows = []
    for call in timings.calls:
        rate = call.tokens_per_second
        rows.append(
            f"<tr class='lk-{call.kind}'><td>{call.kind}</td><td>{escape(call.label)}</td>"
            f"<td class='num'>{_seconds(call.start - timings.run_start)}</td><td class='num'>{_seconds(call.time_to_first_token)}</td>"
            f"<td class='num'>{_seconds(call.duration)}</td><td class='num'>{call.input_tokens if call.input_tokens is not None else '–'}</td>"
            f"<td class='num'>{call.output_tokens if call.output_tokens is not None else '–'}</td>"
            f"<td class='num'>{'–' if rate is None else f'{rate:.1f}'}</td><td class='lk-error'>{escape(call.error or '')}</td></tr>"
        )
    head = "<tr><th>call</th><th>what</th><th>starts</th><th>first token</th><th>duration</th><th>in</th><th>out</th><th>tok/s</th><th></th></tr>"
    return f"<table class='lk-table lk-timing-table'>{head}{''.join(rows)}</table>"


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
    parts = [f"<svg class='lk-timeline' xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}'>"]
    parts.append("<path class='grid' d='" + "".join(f"M{x:.0f} 0V{height - 16}" for x in ticks) + "'/>")
    parts += [f"<text class='tick' x='{x:.0f}' y='{height - 4}'>{span * i / 4:.2f} s</text>" for i, x in enumerate(ticks)]
    bar = ROW_H - 6
    for row, call in enumerate(calls):
        y = row * ROW_H + 4
        x0 = LABEL_W + (call.start - timings.run_start) * scale
        width = max((call.end - call.start) * scale, 2)
        kind = "failed" if call.error else call.kind
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


class TimingsPanel(Panel):
    """Recomputed when a call ends (not per token): the table, the timeline, the totals."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []
        self.timings: RunTimings | None = None
        self.table = widgets.HTML(value="<span class='lk-muted'>no calls yet</span>")
        self.timeline = widgets.HTML()
        self._stale = False
        self.widget = titled("Timings", self.table, self.timeline, css_class="lk-timings")

    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, RunStart):
            self.events = []
        self.events.append(event)
        if isinstance(event, (ModelEnd, ToolEnd, RunEnd)):
            self._stale = True
            return True
        return False

    def sync(self) -> None:
        if not self._stale:
            return
        self._stale = False
        self.timings = compute_timings(self.events)
        self.table.value = table_html(self.timings)
        self.timeline.value = timeline_svg(self.timings) + LEGEND

    def text(self) -> str:
        return format_timings(self.timings) if self.timings else "Timings: no calls yet"


__all__ = ["TimingsPanel", "table_html", "timeline_svg"]
