"""What both LangGraph adapters share: the clock, open model calls, tool decisions waiting to run,
tool pairing and interrupts seen. The adapters only read their source's shape and call these."""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Mapping

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage

from .events import InterruptRaised, ModelStart, Namespace, StreamEvent, ToolDecision, ToolStart
from .model_calls import ModelCall, message_text
from .tool_pairs import ToolPairs, tool_error_text

Clock = Callable[[], float]


class EventBuilder:
    """State one run's conversion needs, whatever its source; ``clock`` gives seconds since the run started."""

    def __init__(self, clock: Clock | None = None) -> None:
        start = time.monotonic()
        self.clock: Clock = clock or (lambda: time.monotonic() - start)
        self.calls: dict[str, ModelCall] = {}
        self.finished_calls: set[str] = set()
        self.decisions: dict[str, ToolDecision] = {}  # tool_call_id → decision, until the tool starts
        self.tools = ToolPairs()
        self.interrupts: set[str] = set()

    def start_call(self, call_id: str, node: str, step: int | None, ns: Namespace, t: float, model: str | None = None) -> list[StreamEvent]:
        self.calls[call_id] = ModelCall(call_id, node, step, ns)
        return [ModelStart(t=t, call_id=call_id, node=node, step=step, namespace=ns, model=model)]

    def end_call(self, call_id: str, t: float, final: BaseMessage | None = None) -> list[StreamEvent]:
        """The call's ModelEnd and ToolDecisions, once (sources report a finished answer in several places)."""
        call = self.calls.pop(call_id, None)
        if call is None or call_id in self.finished_calls:
            return []
        self.finished_calls.add(call_id)
        out = call.end(t, final)
        self.decisions.update((e.tool_call_id, e) for e in out if isinstance(e, ToolDecision))
        return out

    def whole_message(self, message: AIMessage, node: str, step: int | None, ns: Namespace, t: float, start: float | None = None) -> list[StreamEvent]:
        """A model answer that arrived in one piece (not streamed): start, one token, end."""
        call_id = message.id or f"call-{uuid.uuid4()}"
        if call_id in self.finished_calls or call_id in self.calls:
            return self.end_call(call_id, t, message) if call_id in self.calls else []
        out = self.start_call(call_id, node, step, ns, start if start is not None else t)
        out += self.calls[call_id].add(AIMessageChunk(content=message.content, id=message.id), t) if message_text(message.content) else []
        return out + self.end_call(call_id, t, message)

    def start_tool(self, decision: ToolDecision, t: float, node: str | None) -> ToolStart:
        """The tool ``decision`` asked for starts: it leaves the waiting decisions and opens a pair."""
        self.decisions.pop(decision.tool_call_id, None)
        return self.tools.start(ToolStart(t=t, tool=decision.tool, tool_call_id=decision.tool_call_id, args=decision.args, node=node))

    def tool_message(self, message: ToolMessage, t: float, node: str | None, call_id: str | None = None) -> list[StreamEvent]:
        """A ToolMessage ends the tool call it answers (``call_id``, by default its ``tool_call_id``), once."""
        content = message_text(message.content)
        error = tool_error_text(content) if getattr(message, "status", "success") == "error" else None
        return list(self.tools.end(t=t, tool_call_id=call_id or message.tool_call_id, tool=message.name, result=content, error=error, node=node))

    def interrupt(self, item: Any, t: float, ns: Namespace) -> list[StreamEvent]:
        """An Interrupt (updates mode, events v2) or its dict form (tasks mode), reported once."""
        if isinstance(item, Mapping):
            interrupt_id, value = item.get("id"), item.get("value")
        else:
            interrupt_id, value = getattr(item, "id", None), getattr(item, "value", item)
        interrupt_id = interrupt_id or str(len(self.interrupts))
        if interrupt_id in self.interrupts:
            return []
        self.interrupts.add(interrupt_id)
        return [InterruptRaised(t=t, value=value, interrupt_id=interrupt_id, namespace=ns)]
