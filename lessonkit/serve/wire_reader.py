"""Wire events in, lessonkit StreamEvents out: how a served run reaches the same panels as a local one.

``ServedAgent.lessonkit_events`` feeds each SSE event to a ``WireEventReader``; tool starts and ends
are paired by id here, once, exactly as the local adapters pair them (``lessonkit.stream.tool_pairs``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from lessonkit.errors import LessonkitError
from lessonkit.stream.events import (
    CheckpointSaved, Custom, InterruptRaised, ModelEnd, ModelStart, NodeEnd, NodeStart, RunEnd, RunStart, StreamEvent, Token,
    ToolDecision, ToolStart,
)
from lessonkit.stream.tool_pairs import ToolPairs, tool_error_text

Clock = Callable[[], float]


def _ns(wire: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(wire.get("namespace") or ())


class ServedRunError(LessonkitError):
    """A served run ended with an ``error`` event (``code``: timeout, busy, failed, ...)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"the served run failed ({code}): {message}")


class WireEventReader:
    """Wire events (dicts) in, lessonkit StreamEvents out: the inverse of ``lessonkit.serve.events.to_wire``.

    Times are this side's (seconds since the reader was made, i.e. since the request was sent), except a
    model call's start: the server's ``t`` (its node's start) counted from the ``metadata`` event's arrival,
    kept between the previous event and now, so the events' times never go backwards.
    """

    def __init__(self, thread_id: str | None = None, clock: Clock | None = None) -> None:
        began = time.monotonic()
        self.clock: Clock = clock or (lambda: time.monotonic() - began)
        self.sent_at = self.clock()
        self.thread_id = thread_id
        self.run_id: str | None = None
        self.metadata_at: float | None = None
        self.ended = False
        self.error: ServedRunError | None = None
        self.last_t = self.sent_at  # events keep one clock moving forward
        self.tools = ToolPairs()

    def feed(self, wire: Mapping[str, Any]) -> list[StreamEvent]:
        t, kind = self.clock(), wire.get("type")
        handler = getattr(self, f"_on_{kind}", None)
        out = handler(wire, t) if handler is not None else []
        self.last_t = max([self.last_t, *(e.t for e in out)])
        return out

    def stopped(self, error: BaseException) -> RunEnd:
        """The RunEnd for a stream this side stopped reading (cancelled, or the connection failed)."""
        self.ended = True
        cancelled = isinstance(error, (KeyboardInterrupt, GeneratorExit)) or type(error).__name__ == "CancelledError"
        return RunEnd(t=self.clock(), run_id=self.run_id or "", status="cancelled" if cancelled else "error",
                      error=None if cancelled else f"{type(error).__name__}: {error}")

    def _on_metadata(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.run_id, self.metadata_at = wire.get("run_id") or "", t
        self.thread_id = wire.get("thread_id") or self.thread_id
        return [RunStart(t=self.sent_at, run_id=self.run_id, thread_id=self.thread_id, source="served")]

    def _on_model_start(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        server_t = wire.get("t")
        start = min(t, self.metadata_at + server_t) if isinstance(server_t, (int, float)) and self.metadata_at is not None else t
        start = max(start, self.last_t)  # never before what already arrived (the two clocks differ a little)
        return [ModelStart(t=start, call_id=wire["call_id"], node=wire.get("node") or "?", step=wire.get("step"), namespace=_ns(wire),
                           model=wire.get("model"))]

    def _on_token(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [Token(t=t, call_id=wire.get("call_id") or "model", text=wire.get("content") or "")]

    def _on_tool_args(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [Token(t=t, call_id=wire.get("call_id") or "model", text=wire.get("content") or "", token_kind="tool_args",
                      tool_call_index=wire.get("index"), tool_name=wire.get("name"))]

    def _on_model_end(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [ModelEnd(t=t, call_id=wire["call_id"], node=wire.get("node") or "?", step=wire.get("step"), text=wire.get("content") or "",
                         chunks=int(wire.get("chunks") or 0), input_tokens=wire.get("input_tokens"), output_tokens=wire.get("output_tokens"),
                         finish_reason=wire.get("finish_reason"), tool_calls=(), namespace=_ns(wire),
                         cached_input_tokens=wire.get("cached_input_tokens"), model=wire.get("model"), provider=wire.get("provider"))]

    def _on_tool_call(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [ToolDecision(t=t, tool=wire["name"], args=dict(wire.get("args") or {}), tool_call_id=wire.get("id") or "",
                             model_call_id=wire.get("call_id") or "", node=wire.get("node") or "?", step=wire.get("step"))]

    def _on_tool_start(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [self.tools.start(ToolStart(t=t, tool=wire["name"], tool_call_id=wire.get("id") or "", args=dict(wire.get("args") or {}),
                                           node=wire.get("node")))]

    def _on_tool_result(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        """Paired with its ``tool_start`` by id, as the local adapters pair (the wire carries the ids)."""
        content = str(wire.get("content", ""))
        error = tool_error_text(content) if wire.get("status") == "error" else None  # stripped once, as the local adapter does
        return list(self.tools.end(t=t, tool_call_id=wire.get("id") or "", tool=wire["name"], result=content, error=error,
                                   node=wire.get("node")))

    def _on_interrupt(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [InterruptRaised(t=t, value=wire.get("value"), interrupt_id=wire.get("id"), namespace=_ns(wire))]

    def _on_node_start(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [NodeStart(t=t, node=wire["node"], step=wire.get("step"), task_id="", namespace=_ns(wire))]

    def _on_node_end(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [NodeEnd(t=t, node=wire["node"], step=wire.get("step"), task_id="", namespace=_ns(wire), writes=tuple(wire.get("writes") or ()),
                        error=wire.get("error"))]

    def _on_checkpoint(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [CheckpointSaved(t=t, checkpoint_id=wire["checkpoint_id"], step=wire.get("step"), source=wire.get("source"),
                                next=tuple(wire.get("next") or ()), message_count=int(wire.get("message_count") or 0), namespace=_ns(wire))]

    def _on_custom(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [Custom(t=t, data=wire.get("data"), node=wire.get("node"))]

    def _on_end(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.ended = True
        status = wire.get("status") if wire.get("status") in ("done", "interrupted", "cancelled") else "done"
        return [RunEnd(t=t, run_id=wire.get("run_id") or self.run_id or "", status=status)]

    def _on_error(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.ended = True
        code, message = str(wire.get("error") or "failed"), str(wire.get("message") or "")
        self.error = ServedRunError(code, message)
        unstarted = self.metadata_at is None  # refused before it began: the run still needs its RunStart
        out: list[StreamEvent] = [RunStart(t=self.sent_at, run_id=wire.get("run_id") or "", thread_id=self.thread_id, source="served")] if unstarted else []
        return out + [RunEnd(t=t, run_id=wire.get("run_id") or self.run_id or "", status="error", error=f"{code}: {message}")]
