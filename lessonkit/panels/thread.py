"""The thread panel: a thread's checkpoints in order, what each step changed, and its messages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import ipywidgets as widgets
from langchain_core.messages import BaseMessage

from .base import Panel
from .style import SHARED_HTML_STYLE, SHARED_LAYOUT, titled
from .text import escape
from .tools import format_args, preview


def describe_message(message: BaseMessage, limit: int = 160) -> str:
    """One line for a message: its type, and its text or the tools it asked for."""
    calls = getattr(message, "tool_calls", None)
    if calls:
        body = ", ".join(f"{c['name']}({format_args(c.get('args', {}))})" for c in calls)
        return f"{message.type}: asks for {preview(body, limit)}"
    content = message.content if isinstance(message.content, str) else str(message.content)
    return f"{message.type}: {preview(content, limit)}"


@dataclass(frozen=True)
class StepView:
    """One checkpoint as the panel shows it."""

    checkpoint_id: str
    step: int | None
    source: str | None
    written_by: tuple[str, ...]
    new_messages: tuple[BaseMessage, ...]
    next: tuple[str, ...]

    def title(self) -> str:
        who = ", ".join(self.written_by) or ("input" if self.source == "input" else "-")
        nxt = f" → next {', '.join(self.next)}" if self.next else " → end"
        return f"step {self.step} · {self.source} · by {who} · +{len(self.new_messages)} messages{nxt}"


def step_views(snapshots_oldest_first: Sequence[Any]) -> list[StepView]:
    """Turn StateSnapshots into steps: who wrote each one (the parent's ``next``) and what it added."""
    views, seen, previous_next = [], set(), ()
    for snap in snapshots_oldest_first:
        messages = (snap.values or {}).get("messages", []) if isinstance(snap.values, Mapping) else []
        new = tuple(m for m in messages if (m.id or id(m)) not in seen)
        seen.update(m.id or id(m) for m in messages)
        metadata = snap.metadata or {}
        views.append(StepView(
            snap.config["configurable"]["checkpoint_id"], metadata.get("step"), metadata.get("source"),
            tuple(previous_next) if metadata.get("source") == "loop" else (), new, tuple(snap.next),
        ))
        previous_next = snap.next
    return views


class ThreadPanel(Panel):
    """Fill it with ``load(graph, config)`` (sync savers) or ``await aload(graph, config)`` (async)."""

    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.steps: list[StepView] = []
        self.messages: list[BaseMessage] = []
        self.accordion = widgets.Accordion(children=[])
        self.summary = widgets.HTML(value="<span class='lk-muted'>no thread loaded</span>")
        self.widget = titled("Thread history", self.summary, self.accordion, css_class="lk-thread")

    def load(self, graph: Any, config: Mapping[str, Any]) -> "ThreadPanel":
        self.show(config, list(graph.get_state_history(config))[::-1])
        return self

    async def aload(self, graph: Any, config: Mapping[str, Any]) -> "ThreadPanel":
        self.show(config, [s async for s in graph.aget_state_history(config)][::-1])
        return self

    def show(self, config: Mapping[str, Any], snapshots_oldest_first: Sequence[Any]) -> None:
        self.thread_id = (config.get("configurable") or {}).get("thread_id")
        self.steps = step_views(snapshots_oldest_first)
        last = snapshots_oldest_first[-1] if snapshots_oldest_first else None
        self.messages = list((last.values or {}).get("messages", [])) if last is not None else []
        children = []
        for view in self.steps:
            lines = [escape(describe_message(m)) for m in view.new_messages] or ["<span class='lk-muted'>no new messages</span>"]
            body = widgets.HTML(value="<div class='lk-pre'>" + "<br>".join(lines) + "</div>", layout=SHARED_LAYOUT, style=SHARED_HTML_STYLE)
            children.append(body)
        with self.accordion.hold_sync():  # children and titles go to the browser in one message
            self.accordion.children = children
            for index, view in enumerate(self.steps):
                self.accordion.set_title(index, view.title())
        self.summary.value = escape(f"thread {self.thread_id!r}: {len(self.steps)} checkpoints, {len(self.messages)} messages")

    def text(self) -> str:
        if self.thread_id is None:
            return "Thread history: no thread loaded"
        lines = [f"thread {self.thread_id!r}: {len(self.steps)} checkpoints, {len(self.messages)} messages"]
        for view in self.steps:
            lines.append(f"  {view.title()}")
            lines += [f"      + {describe_message(m, 100)}" for m in view.new_messages]
        return "\n".join(lines)
