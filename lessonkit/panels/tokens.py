"""The token panel: each model call's text as it arrives, and tool-call arguments as they stream."""
from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets

from ..stream.events import ModelEnd, ModelStart, RunEnd, RunStart, StreamEvent, Token
from .base import Panel
from .sections import RunSections
from .style import CARD_LAYOUT, SHARED_HTML_STYLE, SHARED_LAYOUT, titled
from .stream_text import StreamText
from .text import escape


def call_label(node: str, step: int | None, namespace: tuple[str, ...] = ()) -> str:
    where = " › ".join(part.split(":")[0] for part in namespace)
    return (f"{where} › " if where else "") + node + (f" · step {step}" if step is not None else "")


STREAMING = "streaming…"  # a call's status until its ModelEnd arrives
STOPPED = "stopped"  # the run was stopped (cancelled) before the call ended: its text is what arrived
CUT_SHORT = {"cancelled": STOPPED, "error": "failed"}  # RunEnd status → status of calls it left open


@dataclass
class _Call:
    """One model call's card: a heading, the answer text, and one line per streamed tool call.

    The answer's widget opens with its first text: a call that only asks for tools opens none.
    """

    label: str
    model: str | None
    card: widgets.VBox
    head: widgets.HTML
    answer: StreamText | None = None
    args: dict[int, tuple[str, StreamText]] = field(default_factory=dict)
    status: str = STREAMING
    head_sent: str = ""

    def heading(self) -> str:
        return heading(self.label, self.model, self.status)

    def text_label(self) -> str:
        """The label in the text form, with the status only when the call was cut short."""
        return f"{self.label} · {self.status}" if self.status in CUT_SHORT.values() else self.label


def heading(label: str, model: str | None, status: str) -> str:
    """A call card's heading line: where the call ran, which model, and how far it got."""
    model_part = f" · {model}" if model else ""
    return f"<b>{escape(label)}</b>{escape(model_part)} · <span class='lk-status'>{escape(status)}</span>"


class TokenPanel(Panel):
    """Live text per model call, labelled with node and step."""

    def __init__(self) -> None:
        self.calls: dict[str, _Call] = {}
        self.cards = widgets.VBox([])
        self.cards.add_class("lk-token-cards")
        self.sections = RunSections(self.cards)
        self._dirty: set[str] = set()
        self.widget = titled("Tokens", self.cards, css_class="lk-tokens")

    def begin_run(self, label: str) -> None:
        self.sections.begin(label)

    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, RunStart):
            return self.sections.start(event)
        if isinstance(event, RunEnd):
            return self._cut_short(CUT_SHORT.get(event.status))
        key = self.sections.live.get(getattr(event, "call_id", ""))
        if isinstance(event, ModelStart):
            key = self._open(event)
        elif isinstance(event, Token) and key is not None:
            call = self.calls[key]
            if event.token_kind == "text":
                self._answer(call, event.text)
            else:
                self._args(call, event.tool_call_index or 0, event.tool_name, event.text)
        elif isinstance(event, ModelEnd) and key is not None:
            call = self.calls[key]
            tokens = f", {event.output_tokens} tokens" if event.output_tokens is not None else ""
            call.status = f"done: {event.chunks} chunks{tokens}"
        else:
            return False
        self._dirty.add(key)
        return True

    def _cut_short(self, status: str | None) -> bool:
        """The run ended with calls still streaming (Stop, an error): say so on their cards."""
        if status is None:
            return False
        open_calls = [key for key in self.sections.current.keys if self.calls[key].status == STREAMING]
        for key in open_calls:
            self.calls[key].status = status
            self._dirty.add(key)
        return bool(open_calls)

    def _open(self, event: ModelStart) -> str:
        label = call_label(event.node, event.step, event.namespace)
        head = widgets.HTML(value=heading(label, event.model, STREAMING), layout=SHARED_LAYOUT, style=SHARED_HTML_STYLE, _dom_classes=("lk-head",))
        card = widgets.VBox([head], layout=CARD_LAYOUT, _dom_classes=("lk-card",))
        key = self.sections.add(event.call_id, self.calls)
        self.calls[key] = _Call(label, event.model, card, head, head_sent=head.value)
        self.cards.children = (*self.cards.children, card)
        return key

    @staticmethod
    def _answer(call: _Call, text: str) -> None:
        """Append to the answer; its first text opens the widget, right under the heading."""
        if call.answer is not None:
            call.answer.append(text)
        elif text:
            call.answer = StreamText("lk-text", "lk-answer", text=text)
            call.card.children = (call.head, call.answer, *call.card.children[1:])

    @staticmethod
    def _args(call: _Call, index: int, name: str | None, text: str) -> None:
        """Append to one tool call's streamed arguments; the first piece opens its line."""
        if index in call.args:
            call.args[index][1].append(text)
        else:
            stream = StreamText("lk-text", "lk-args", text=text)
            label = widgets.HTML(value=f"<span class='lk-muted'>→ {escape(name or 'tool')}(</span>", layout=SHARED_LAYOUT, style=SHARED_HTML_STYLE, _dom_classes=("lk-head",))
            call.card.children = (*call.card.children, label, stream)
            call.args[index] = (name or "tool", stream)

    def sync(self) -> None:
        for call_id in self._dirty:
            call = self.calls[call_id]
            heading = call.heading()
            if heading != call.head_sent:
                call.head.value = call.head_sent = heading
            if call.answer is not None:
                call.answer.sync()
            for _, text in call.args.values():
                text.sync()
        self._dirty.clear()

    def text(self, run: int | None = None) -> str:
        """Each call's text, under its run's heading if there are several (``run``: only that run's, 0-based)."""
        return self.sections.text(lambda section: self._lines(section.keys), "Tokens: no model calls yet", "no model calls", run)

    def _lines(self, call_ids: list[str]) -> list[str]:
        lines = []
        for call in (self.calls[cid] for cid in call_ids):
            lines.append(f"[{call.text_label()}] {call.answer.text if call.answer else ''}".rstrip())
            lines += [f"  → {name}({text.text})" for name, text in call.args.values()]
        return lines
