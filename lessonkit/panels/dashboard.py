"""The dashboard: tokens, tool decisions, timings and thread history for one agent, live.

``await dash.run(graph, inputs, config)`` streams a turn and returns when it is done (the form that
works under nbclient/nbval). ``dash.start(...)`` runs it as a background task with a working Stop
button (widget clicks only arrive while no cell is running); ``dash.stop()`` is the button in code,
and ``await dash.wait()`` the stopped or finished run's report. Either way the dashboard is driven by
``graph.astream`` (or ``astream_events`` v2), never by callback handlers. Several runs on one
dashboard are each labelled with their thread and question (``labels.run_label``).

A run that stops at the approval agent's review shows Approve / Reject / Edit arguments under its tool
cards, and the thread history offers replay / fork on a checkpoint (``steering.Steering``: the same
``dash.approve()``, ``reject()``, ``edit()``, ``replay()``, ``fork()`` from code); each starts a background run.
"""
from __future__ import annotations

import asyncio
from typing import Any, Mapping

import ipywidgets as widgets
from IPython.display import display

from .explain import explain_error
from .graph import GraphPanel
from ..stream.adapters import Source, watch
from ..stream.events import ModelEnd, NodeEnd, RunEnd, RunStart, StreamEvent, Token, ToolEnd
from ..stream.timings import compute_timings, format_timings
from .base import Panel
from .batching import DEFAULT_INTERVAL_S, Flusher
from .labels import numbered, run_label
from .quiet_gc import quiet_gc
from .controls import thread_config
from .steering import Prepare, Steering
from .report import SHOWN_STATUS, STOPPED_STATUS, RunReport, StepsBar, run_status, steps_at_end
from .style import style_widget
from .text import escape
from .thread import ThreadPanel
from .timings import TimingsPanel
from .tokens import TokenPanel
from .tools import ToolDecisionsPanel


class Dashboard(Steering, Panel):
    """Token, tool-decision, timing and thread panels over one stream of events."""

    def __init__(self, *, via: Source = "astream", flush_interval: float = DEFAULT_INTERVAL_S, graph: bool = False) -> None:
        """``graph=True`` adds the graph panel (the running node lit; its ~4 KB picture is sent once per graph)."""
        self.via = via
        self.tokens, self.tools, self.timings, self.thread = TokenPanel(), ToolDecisionsPanel(), TimingsPanel(), ThreadPanel()
        self.graph_panel = GraphPanel() if graph else None  # the graph, its running node lit while the run streams
        self.live_panels: tuple[Panel, ...] = (self.tokens, self.tools, self.timings) + ((self.graph_panel,) if self.graph_panel else ())
        self.events: list[StreamEvent] = []
        self.runs: list[list[StreamEvent]] = []
        self.labels: list[str] = []  # per run: thread and question (``labels.run_label``)
        self.threads: list[str | None] = []  # per run: the thread id of its config
        self.flusher = Flusher(self._push, flush_interval)
        self.task: asyncio.Task[RunReport] | None = None
        self.status = widgets.HTML(value="ready")
        self.status.add_class("lk-status-line")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="steps")
        self.stop_button = widgets.Button(description="Stop", disabled=True, button_style="danger", icon="stop")
        self.stop_button.on_click(lambda _: self.stop())
        self._init_steering()
        history = widgets.Accordion(children=[widgets.VBox([self.thread.widget, self.time_travel.widget], _dom_classes=("lk-history",))])
        history.set_title(0, "Thread history (checkpoints)")
        header = widgets.HBox([self.status, self.progress, self.stop_button])
        middle = widgets.HBox([panel.widget for panel in (self.graph_panel, self.tokens, self.tools) if panel is not None])
        self.widget = widgets.VBox([style_widget(), header, middle, self.timings.widget, history])
        if self.graph_panel is not None:
            self.graph_panel.widget.layout = widgets.Layout(flex="0 0 auto", max_width="30%", overflow="auto", padding="0 8px 0 0")
        for panel in (self.tokens, self.tools):
            panel.widget.layout = widgets.Layout(width="35%" if graph else "50%", padding="0 8px 0 0")
        self.widget.add_class("lk-dashboard")
        self._status_text = "ready"
        self._displayed = False
        self._waiters: list[tuple[str, asyncio.Future[StreamEvent | None]]] = []
        self._running = False  # a run() in progress (start()'s runs are self.task)

    @property
    def status_text(self) -> str:
        """The status line as plain text (running…, streaming…, done, stopped: …, failed: …)."""
        return self._status_text

    # -- running ---------------------------------------------------------------------------------
    async def run(self, graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> RunReport:
        """Stream one turn through the panels; return its report when it is done."""
        current = self._begin(inputs, config)
        self._running = True
        try:
            return await self._stream(current, graph, inputs, config, **kwargs)
        finally:
            self._running = False

    def start(self, graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> asyncio.Task[RunReport]:
        """Run in the background (for interactive use): the cell returns, the Stop button works."""
        return self._launch(graph, inputs, config, **kwargs)

    def _launch(self, graph: Any, inputs: Any, config: Mapping[str, Any] | None, *, label: str | None = None,
                prepare: Prepare | None = None, **kwargs: Any) -> asyncio.Task[RunReport]:
        """``start``, and the controls' runs: ``label`` names the run, ``prepare`` (an update_state) runs first."""
        current = self._begin(inputs, config, label)
        task = asyncio.ensure_future(self._stream(current, graph, inputs, config, prepare, **kwargs))
        task.add_done_callback(lambda done: self._after_background(done, current))
        self.task = task
        self.stop_button.disabled = False
        return task

    def stop(self) -> None:
        """Cancel the background run (what the Stop button does); the panels then say it stopped."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def wait(self) -> RunReport:
        """Wait for the background run; return its report, stopped or done (a failed run raises its error)."""
        if self.task is not None:
            await asyncio.wait([self.task])
            if not self.task.cancelled() and self.task.exception() is not None:
                raise self.task.exception()  # type: ignore[misc]
        return self.report()

    async def wait_for(self, kind: str) -> StreamEvent | None:
        """The current run's first event of ``kind`` (``"token"``, ``"tool_decision"``…), once it arrives.

        None if the run ends without one. For a demonstration that stops a run at a known point.
        """
        if not self.runs:
            return None
        current = self.runs[-1]
        found = next((e for e in current if e.kind == kind), None)
        if found is not None or (current and isinstance(current[-1], RunEnd)):
            return found
        future: asyncio.Future[StreamEvent | None] = asyncio.get_running_loop().create_future()
        self._waiters.append((kind, future))
        return await future

    def _busy(self) -> bool:
        return (self.task is not None and not self.task.done()) or self._running

    def _begin(self, inputs: Any, config: Mapping[str, Any] | None, label: str | None = None) -> list[StreamEvent]:
        """A new run, labelled in every panel before its first event (a run stopped early still has its place)."""
        if self._busy():  # two runs' events would mix in one set of panels
            raise RuntimeError("this dashboard is still running a turn: `await dash.wait()` (or `dash.stop()`) first, or use another Dashboard")
        self._show()
        self._controls_busy()
        current: list[StreamEvent] = []
        self.runs.append(current)
        self.threads.append(((config or {}).get("configurable") or {}).get("thread_id"))
        self.labels.append(label or run_label(self.threads[-1], inputs))
        for panel in self.live_panels:
            panel.begin_run(self.labels[-1])
        self._show_bar(StepsBar(0, 1))
        self._set_status("running…")
        return current

    async def _stream(self, current: list[StreamEvent], graph: Any, inputs: Any, config: Mapping[str, Any] | None,
                      prepare: Prepare | None = None, **kwargs: Any) -> RunReport:
        if self.graph_panel is not None:
            self.graph_panel.set_graph(graph)
        with quiet_gc():  # no 50-80 ms full collections while tokens are waiting to be sent
            try:
                config = await prepare() if prepare is not None else config
                async for event in watch(graph, inputs, config, via=self.via, **kwargs):
                    current.append(event)
                    self._take(event)
            except asyncio.CancelledError:
                self._close(current, "cancelled")
                self._set_status(STOPPED_STATUS)
                raise
            except Exception as error:
                self._close(current, "error", f"{type(error).__name__}: {error}")
                self._set_status(f"failed: {explain_error(error)}")
                raise
            finally:
                self.stop_button.disabled = True
                self.flusher.flush(final=True)  # the last tokens go out now, not after the thread is read back
                await self._refresh_thread(graph, config)
                self._controls_after(current, graph, config, kwargs)
        return self.report(current)

    def _close(self, current: list[StreamEvent], status: str, error: str | None = None) -> None:
        """Make sure the run ends in the panels: a run cancelled or failed outside the stream gets no RunEnd from it."""
        if current and isinstance(current[-1], RunEnd):
            return
        start = next((e for e in current if isinstance(e, RunStart)), None)
        end = RunEnd(t=current[-1].t if current else 0.0, run_id=start.run_id if start else "", status=status, error=error)  # type: ignore[arg-type]
        current.append(end)
        self._take(end)

    def _after_background(self, task: asyncio.Task[RunReport], current: list[StreamEvent]) -> None:
        """A background run cancelled before it began never ran its own clean-up: do it here.

        A failed one's error is on the status line already: marked as seen, so asyncio does not log it again.
        """
        if not task.cancelled():
            task.exception()
        elif not (current and isinstance(current[-1], RunEnd)):
            self._close(current, "cancelled")
            self._set_status("stopped before the run began: nothing was sent")
            self.stop_button.disabled = True
            self.flusher.flush(final=True)
            self._controls_after(current, None, None, {})

    def _show(self) -> None:
        """Display the dashboard where the first run or start is called (once)."""
        if not self._displayed:
            display(self)
            self._displayed = True

    async def _refresh_thread(self, graph: Any, config: Mapping[str, Any] | None) -> None:
        if not config or not (config.get("configurable") or {}).get("thread_id") or getattr(graph, "checkpointer", None) is None:
            return
        config = thread_config(config)  # a replay's or fork's config names a checkpoint: show the thread's newest branch
        try:
            await self.thread.aload(graph, config)
        except NotImplementedError:  # a sync SqliteSaver: read it the sync way
            self.thread.load(graph, config)

    def _take(self, event: StreamEvent) -> None:
        self.events.append(event)
        changed = [panel.on_event(event) for panel in self.live_panels]
        if isinstance(event, NodeEnd):
            with self.progress.hold_sync():
                self.progress.max = max(self.progress.max, self.progress.value + 2)
                self.progress.value += 1
        if isinstance(event, RunStart):
            self._show_bar(StepsBar(0, 1))
        if isinstance(event, Token) and "first token" not in self._status_text:
            self._set_status(f"streaming · first token after {event.t:.2f} s")
        if isinstance(event, RunEnd):
            self._show_bar(steps_at_end(event.status, self.progress.value))
            if event.status != "error":  # errors: run() explains them
                self._set_status(SHOWN_STATUS.get(event.status, event.status))
        self._wake(event)
        if any(changed) or isinstance(event, (ModelEnd, ToolEnd, RunEnd)):
            self.flusher.request()

    def _wake(self, event: StreamEvent) -> None:
        """Answer ``wait_for`` calls: with this event if it is the kind they wait for, with None at the run's end."""
        waiting = []
        for kind, future in self._waiters:
            if future.done():
                continue
            if event.kind == kind:
                future.set_result(event)
            elif isinstance(event, RunEnd):
                future.set_result(None)
            else:
                waiting.append((kind, future))
        self._waiters = waiting

    def _show_bar(self, bar: StepsBar) -> None:
        with self.progress.hold_sync():
            self.progress.max = max(bar.max, 1)
            self.progress.value = bar.value
            self.progress.bar_style = bar.bar_style
            self.progress.description = bar.description

    def _set_status(self, text: str) -> None:
        self._status_text = text
        self.status.value = f"<b>{escape(text)}</b>"

    def _push(self) -> None:
        for panel in self.live_panels:
            panel.sync()

    # -- text forms ------------------------------------------------------------------------------
    def _index(self, events: list[StreamEvent]) -> int:
        """Which run ``events`` is (by identity; a copy is found by value); the last run otherwise."""
        found = next((i for i, run in enumerate(self.runs) if run is events), None)
        if found is None:
            found = next((i for i, run in enumerate(self.runs) if run == events), len(self.runs) - 1)
        return found

    def report(self, events: list[StreamEvent] | None = None) -> RunReport:
        """One run's report (the last run's by default), labelled when the dashboard holds several."""
        if not self.runs:
            return RunReport("ready", None, self.tokens.text(), self.tools.text(), self.timings.text())
        index = self._index(events) if events is not None else len(self.runs) - 1
        events = self.runs[index]
        start = next((e for e in events if isinstance(e, RunStart)), None)
        return RunReport(
            status=run_status(events), thread_id=start.thread_id if start else self.threads[index],
            transcript=self.tokens.text(run=index), decisions=self.tools.text(run=index),
            timings=format_timings(compute_timings(events)) if events else "Timings: no calls yet",
            label=numbered(index + 1, self.labels[index]) if len(self.runs) > 1 else None,
        )

    def text(self) -> str:
        """The last run's report; with several runs, a line per run first (its label and status)."""
        if not self.runs:
            return "lessonkit dashboard: ready (tokens, tool decisions, timings, thread history)"
        if len(self.runs) == 1:
            return str(self.report())
        lines = [f"lessonkit dashboard: {len(self.runs)} runs"]
        lines += [f"  {numbered(i, label)}: {run_status(events)}" for i, (label, events) in enumerate(zip(self.labels, self.runs, strict=True), 1)]
        return "\n".join([*lines, "", str(self.report())])
