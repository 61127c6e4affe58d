"""The token panel: each model call's text as it arrives, and tool-call arguments as they stream.

``_Call`` holds what a call showed (the text form reads it); ``token_view.TokenView`` is what the
browser shows, kept in step by ops: one widget for the whole panel, so its module crosses once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..stream.events import ModelEnd, ModelStart, RunEnd, RunStart, StreamEvent, Token
from .base import Panel
from .sections import RunSections
from .style import titled
from .token_view import TokenView, whole_characters


def call_label(node: str, step: int | None, namespace: tuple[str, ...] = ()) -> str:
    where = " › ".join(part.split(":")[0] for part in namespace)
    return (f"{where} › " if where else "") + node + (f" · step {step}" if step is not None else "")


STREAMING = "streaming…"  # a call's status until its ModelEnd arrives
STOPPED = "stopped"  # the run was stopped (cancelled) before the call ended: its text is what arrived
CUT_SHORT = {"cancelled": STOPPED, "error": "failed"}  # RunEnd status → status of calls it left open


@dataclass
class _Call:
    """One model call's card: where it ran, its answer and its streamed tool calls (in pieces: appending stays cheap)."""

    label: str
    model: str | None
    pieces: list[str] = field(default_factory=list)
    args: dict[int, tuple[str, list[str]]] = field(default_factory=dict)  # tool_call_index → (tool, pieces)
    status: str = STREAMING

    @property
    def answer(self) -> str:
        return "".join(self.pieces)

    def text_label(self) -> str:
        """The label in the text form, with the status only when the call was cut short."""
        return f"{self.label} · {self.status}" if self.status in CUT_SHORT.values() else self.label


class TokenPanel(Panel):
    """Live text per model call, labelled with node and step."""

    def __init__(self) -> None:
        self.calls: dict[str, _Call] = {}
        self.view = TokenView()
        self.sections = RunSections(self.view.heading)
        self.widget = titled("Tokens", self.view, css_class="lk-tokens")

    def begin_run(self, label: str) -> None:
        self.sections.begin(label)

    def on_event(self, event: StreamEvent) -> bool:
        if isinstance(event, RunStart):
            return self.sections.start(event)
        if isinstance(event, RunEnd):
            return self._cut_short(CUT_SHORT.get(event.status))
        key = self.sections.live.get(getattr(event, "call_id", ""))
        if isinstance(event, ModelStart):
            self._open(event)
        elif isinstance(event, Token) and key is not None:
            call, text = self.calls[key], whole_characters(event.text)  # once, for the text form and the view alike
            if event.token_kind == "text":
                call.pieces.append(text)
                self.view.text(key, text)
            else:
                self._args(key, call, event.tool_call_index or 0, event.tool_name, text)
        elif isinstance(event, ModelEnd) and key is not None:
            tokens = f", {event.output_tokens} tokens" if event.output_tokens is not None else ""
            self._set_status(key, f"done: {event.chunks} chunks{tokens}")
        else:
            return False
        return True

    def _set_status(self, key: str, status: str) -> None:
        self.calls[key].status = status
        self.view.status(key, status)

    def _cut_short(self, status: str | None) -> bool:
        """The run ended with calls still streaming (Stop, an error): say so on their cards."""
        if status is None:
            return False
        open_calls = [key for key in self.sections.current.keys if self.calls[key].status == STREAMING]
        for key in open_calls:
            self._set_status(key, status)
        return bool(open_calls)

    def _open(self, event: ModelStart) -> None:
        label = call_label(event.node, event.step, event.namespace)
        key = self.sections.add(event.call_id, self.calls)
        self.calls[key] = _Call(label, event.model)
        self.view.card(key, label, event.model, STREAMING)

    def _args(self, key: str, call: _Call, index: int, name: str | None, text: str) -> None:
        """Append to one tool call's streamed arguments; the first piece opens its line."""
        if index not in call.args:
            call.args[index] = (name or "tool", [])
        tool, pieces = call.args[index]
        pieces.append(text)
        self.view.args(key, list(call.args).index(index), tool, text)

    def sync(self) -> None:
        self.view.sync()

    def text(self, run: int | None = None) -> str:
        """Each call's text, under its run's heading if there are several (``run``: only that run's, 0-based)."""
        return self.sections.text(lambda section: self._lines(section.keys), "Tokens: no model calls yet", "no model calls", run)

    def _lines(self, call_ids: list[str]) -> list[str]:
        lines = []
        for call in (self.calls[cid] for cid in call_ids):
            lines.append(f"[{call.text_label()}] {call.answer}".rstrip())
            lines += [f"  → {name}({''.join(pieces)})" for name, pieces in call.args.values()]
        return lines
