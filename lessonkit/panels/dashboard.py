"""The dashboard: tokens, tool decisions, timings and thread history for one agent, live.

``await dash.run(graph, inputs, config)`` streams a turn and returns when it is done (the form that
works under nbclient/nbval). ``dash.start(...)`` runs it as a background task with a working Stop
button (widget clicks only arrive while no cell is running). Either way the dashboard is driven by
``graph.astream`` (or ``astream_events`` v2), never by callback handlers.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Mapping

import ipywidgets as widgets
from IPython.display import display

from ..explain import explain_error
from ..stream.adapters import Source, watch
from ..stream.events import ModelEnd, ModelStart, NodeEnd, RunEnd, RunStart, StreamEvent, Token, ToolDecision, ToolEnd
from ..stream.timings import compute_timings, format_timings
from .base import Panel
from .batching import DEFAULT_INTERVAL_S, Flusher
from .quiet_gc import quiet_gc
from .style import style_widget
from .text import escape
from .thread import ThreadPanel
from .timings import TimingsPanel
from .tokens import TokenPanel
from .tools import ToolDecisionsPanel


@dataclass(frozen=True)
class RunReport:
    """What a finished run leaves behind, as deterministic text (times are masked by the sanitizer)."""

    status: str
    thread_id: str | None
    transcript: str
    decisions: str
    timings: str

    def __str__(self) -> str:
        head = f"Run on thread {self.thread_id!r}: {self.status}"
        return "\n".join([head, "", "Transcript", _indent(self.transcript), "", "Tool decisions", _indent(self.decisions), "", "Timings", _indent(self.timings)])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


class Dashboard(Panel):
    """Token, tool-decision, timing and thread panels over one stream of events."""

    def __init__(self, *, via: Source = "astream", flush_interval: float = DEFAULT_INTERVAL_S) -> None:
        self.via = via
        self.tokens, self.tools, self.timings, self.thread = TokenPanel(), ToolDecisionsPanel(), TimingsPanel(), ThreadPanel()
        self.events: list[StreamEvent] = []
        self.runs: list[list[StreamEvent]] = []
        self.flusher = Flusher(self._push, flush_interval)
        self.task: asyncio.Task[RunReport] | None = None
        self.status = widgets.HTML(value="ready")
        self.status.add_class("lk-status-line")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="steps")
        self.stop_button = widgets.Button(description="Stop", disabled=True, button_style="danger", icon="stop")
        self.stop_button.on_click(lambda _: self.stop())
        history = widgets.Accordion(children=[self.thread.widget])
        history.set_title(0, "Thread history (checkpoints)")
        header = widgets.HBox([self.status, self.progress, self.stop_button])
        self.widget = widgets.VBox([style_widget(), header, widgets.HBox([self.tokens.widget, self.tools.widget]), self.timings.widget, history])
        for panel in (self.tokens, self.tools):
            panel.widget.layout = widgets.Layout(width="50%", padding="0 8px 0 0")
        self.widget.add_class("lk-dashboard")
        self._status_text = "ready"
        self._displayed = False

    # -- running ---------------------------------------------------------------------------------
    async def run(self, graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> RunReport:
        """Stream one turn through the panels; return its report when it is done."""
        self._show()
        current: list[StreamEvent] = []
        self.runs.append(current)
        self._set_status("running…")
        with quiet_gc():  # no 50-80 ms full collections while tokens are waiting to be sent
            try:
                async for event in watch(graph, inputs, config, via=self.via, **kwargs):
                    current.append(event)
                    self._take(event)
            except asyncio.CancelledError:
                self._set_status("stopped: the last checkpoint is kept; the next turn on this thread continues from it")
                raise
            except Exception as error:
                self._set_status(f"failed: {explain_error(error)}")
                raise
            finally:
                self.stop_button.disabled = True
                self.flusher.flush(final=True)  # the last tokens go out now, not after the thread is read back
                await self._refresh_thread(graph, config)
        return self.report(current)

    def start(self, graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> asyncio.Task[RunReport]:
        """Run in the background (for interactive use): the cell returns, the Stop button works."""
        self._show()
        self.task = asyncio.ensure_future(self.run(graph, inputs, config, **kwargs))
        self.stop_button.disabled = False
        return self.task

    def _show(self) -> None:
        """Display the dashboard where the first run or start is called (once)."""
        if not self._displayed:
            display(self)
            self._displayed = True

    def stop(self) -> None:
        """Cancel the background run (what the Stop button does)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _refresh_thread(self, graph: Any, config: Mapping[str, Any] | None) -> None:
        if not config or not (config.get("configurable") or {}).get("thread_id") or getattr(graph, "checkpointer", None) is None:
            return
        try:
            await self.thread.aload(graph, config)
        except NotImplementedError:  # a sync SqliteSaver: read it the sync way
            self.thread.load(graph, config)

    def _take(self, event: StreamEvent) -> None:
        self.events.append(event)
        changed = [panel.on_event(event) for panel in (self.tokens, self.tools, self.timings)]
        if isinstance(event, NodeEnd):
            with self.progress.hold_sync():
                self.progress.max = max(self.progress.max, self.progress.value + 2)
                self.progress.value += 1
        if isinstance(event, RunStart):
            with self.progress.hold_sync():
                self.progress.value, self.progress.max = 0, 1
        if isinstance(event, Token) and "first token" not in self._status_text:
            self._set_status(f"streaming · first token after {event.t:.2f} s")
        if isinstance(event, RunEnd) and event.status != "error":  # errors: run() explains them
            self.progress.max = max(self.progress.value, 1)  # one message: value is unchanged
            self._set_status(event.status)
        if any(changed) or isinstance(event, (ModelEnd, ToolEnd, RunEnd)):
            self.flusher.request()

    def _set_status(self, text: str) -> None:
        self._status_text = text
        self.status.value = f"<b>{escape(text)}</b>"

    def _push(self) -> None:
        for panel in (self.tokens, self.tools, self.timings):
            panel.sync()

    # -- text forms ------------------------------------------------------------------------------
    def report(self, events: list[StreamEvent] | None = None) -> RunReport:
        events = events if events is not None else (self.runs[-1] if self.runs else [])
        start = next((e for e in events if isinstance(e, RunStart)), None)
        end = next((e for e in reversed(events) if isinstance(e, RunEnd)), None)
        calls = {e.call_id for e in events if isinstance(e, ModelEnd | ModelStart)}
        decided = {e.tool_call_id for e in events if isinstance(e, ToolDecision)}
        return RunReport(
            status=end.status if end else "running", thread_id=start.thread_id if start else None,
            transcript=self.tokens.text(only=calls), decisions=self.tools.text(only=decided),
            timings=format_timings(compute_timings(events)),
        )

    def text(self) -> str:
        if not self.runs:
            return "lessonkit dashboard: ready (tokens, tool decisions, timings, thread history)"
        return str(self.report())
