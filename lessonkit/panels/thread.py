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
    changed_messages: tuple[BaseMessage, ...] = ()  # same id as an earlier message, new content (an edit or a fork)
    last_message: BaseMessage | None = None  # the state's last message there (what replay and fork decide on)

    def title(self) -> str:
        who = ", ".join(self.written_by) or {"input": "input", "update": "update_state"}.get(self.source or "", "-")
        nxt = f" → next {', '.join(self.next)}" if self.next else " → end"
        changed = f" · ~{len(self.changed_messages)} changed" if self.changed_messages else ""
        return f"step {self.step} · {self.source} · by {who} · +{len(self.new_messages)} messages{changed}{nxt}"

    def lines(self, limit: int = 160) -> list[str]:
        """What the step did to the messages: ``+`` added, ``~`` replaced."""
        return [f"+ {describe_message(m, limit)}" for m in self.new_messages] + [f"~ {describe_message(m, limit)}" for m in self.changed_messages]


SHOWN_STEPS = 60  # the widget shows the newest steps of a long thread; the text form shows all


def current_branch(snapshots_oldest_first: Sequence[Any]) -> list[Any]:
    """The newest checkpoint and its ancestors, oldest first: the line a plain config continues from.

    ``get_state_history`` lists every branch of a thread (time travel forks included); read as one
    line, a fork would look like a step that deleted messages. Following ``parent_config`` from the
    newest checkpoint gives the branch the thread is on.
    """
    if not snapshots_oldest_first:
        return []
    by_id = {_checkpoint_id(s.config): s for s in snapshots_oldest_first}
    line, snap = [], snapshots_oldest_first[-1]
    while snap is not None:
        line.append(snap)
        parent = getattr(snap, "parent_config", None)
        snap = by_id.get(_checkpoint_id(parent)) if parent else None
    return line[::-1]


def _checkpoint_id(config: Mapping[str, Any]) -> str:
    return config["configurable"]["checkpoint_id"]


def step_views(branch_oldest_first: Sequence[Any]) -> list[StepView]:
    """Turn one branch's StateSnapshots into steps: who wrote each one (the parent's ``next``) and what it added."""
    views, seen, previous_next = [], {}, ()
    for snap in branch_oldest_first:
        messages = (snap.values or {}).get("messages", []) if isinstance(snap.values, Mapping) else []
        new = tuple(m for m in messages if (m.id or id(m)) not in seen)
        changed = tuple(m for m in messages if (m.id or id(m)) in seen and seen[m.id or id(m)] != _content(m))
        seen.update({m.id or id(m): _content(m) for m in messages})
        metadata = snap.metadata or {}
        views.append(StepView(
            _checkpoint_id(snap.config), metadata.get("step"), metadata.get("source"),
            tuple(previous_next) if metadata.get("source") == "loop" else (), new, tuple(snap.next), changed,
            messages[-1] if messages else None,
        ))
        previous_next = snap.next
    return views


def _content(message: BaseMessage) -> str:
    return repr((message.content, getattr(message, "tool_calls", None)))


def step_html(view: StepView) -> str:
    """One checkpoint as a collapsible block: its title, and what it did to the messages."""
    lines = [escape(line) for line in view.lines()] or ["<span class='lk-muted'>no new messages</span>"]
    return f"<details><summary>{escape(view.title())}</summary><div class='lk-pre'>{'<br>'.join(lines)}</div></details>"


class ThreadPanel(Panel):
    """Fill it with ``load(graph, config)`` (sync savers) or ``await aload(graph, config)`` (async).

    The steps are one HTML widget of collapsible blocks, so showing a thread again (after every run,
    in the dashboard) rewrites one value instead of opening a widget per checkpoint.
    """

    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.steps: list[StepView] = []
        self.other_branches = 0  # checkpoints of the thread that are not on the current branch
        self.messages: list[BaseMessage] = []
        self.summary = widgets.HTML(value="<span class='lk-muted'>no thread loaded</span>")
        self.history = widgets.HTML(layout=SHARED_LAYOUT, style=SHARED_HTML_STYLE, _dom_classes=("lk-steps",))
        self.widget = titled("Thread history", self.summary, self.history, css_class="lk-thread")

    def load(self, graph: Any, config: Mapping[str, Any]) -> "ThreadPanel":
        self.show(config, list(graph.get_state_history(config))[::-1])
        return self

    async def aload(self, graph: Any, config: Mapping[str, Any]) -> "ThreadPanel":
        self.show(config, [s async for s in graph.aget_state_history(config)][::-1])
        return self

    def show(self, config: Mapping[str, Any], snapshots_oldest_first: Sequence[Any]) -> None:
        self.thread_id = (config.get("configurable") or {}).get("thread_id")
        branch = current_branch(snapshots_oldest_first)
        self.steps = step_views(branch)
        self.other_branches = len(snapshots_oldest_first) - len(branch)
        self.messages = list((branch[-1].values or {}).get("messages", [])) if branch else []
        shown = self.steps[-SHOWN_STEPS:]
        hidden = len(self.steps) - len(shown)
        earlier = f"<div class='lk-muted'>{hidden} earlier steps not shown (<code>print(panel)</code> lists every one)</div>" if hidden else ""
        self.history.value = earlier + "".join(step_html(view) for view in shown)
        self.summary.value = escape(self._headline())

    def _headline(self) -> str:
        others = f" (+{self.other_branches} on other branches)" if self.other_branches else ""
        return f"thread {self.thread_id!r}: {len(self.steps)} checkpoints{others}, {len(self.messages)} messages"

    def text(self) -> str:
        if self.thread_id is None:
            return "Thread history: no thread loaded"
        lines = [self._headline()]
        for view in self.steps:
            lines.append(f"  {view.title()}")
            lines += [f"      {line}" for line in view.lines(100)]
        return "\n".join(lines)
