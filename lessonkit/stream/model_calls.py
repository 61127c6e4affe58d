"""One streamed model call, accumulated: chunks counted, tokens emitted, chunks added up once at the end.

Both adapters (astream parts and astream_events v2) see a model call as a series of
``AIMessageChunk``; this is the one place that turns them into Token, ModelEnd and ToolDecision.
"""
from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_ai_message_chunks

from .events import ModelEnd, Namespace, StreamEvent, Token, ToolDecision


def message_text(content: Any) -> str:
    """Message content as text (OpenAI gives a string; some models give a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def cached_tokens(usage: Any) -> int | None:
    """Input tokens served from the prompt cache (LangChain's ``input_token_details.cache_read``): they cost less."""
    details = (usage or {}).get("input_token_details") or {}
    cached = details.get("cache_read")
    return cached if isinstance(cached, int) else None


class ModelCall:
    """One model call being streamed: counts chunks, emits tokens, adds the chunks up."""

    def __init__(self, call_id: str, node: str, step: int | None, namespace: Namespace) -> None:
        self.call_id, self.node, self.step, self.namespace = call_id, node, step, namespace
        self.parts: list[AIMessageChunk] = []  # added up once at the end: pairwise adding is quadratic
        self.chunks = 0
        self.tool_names: dict[int, str] = {}

    def add(self, chunk: AIMessageChunk, t: float) -> list[StreamEvent]:
        """Count the chunk; its non-empty text and tool-call arguments become tokens (a chunk is not a token)."""
        self.chunks += 1
        self.parts.append(chunk)
        out: list[StreamEvent] = []
        text = message_text(chunk.content)
        if text:
            out.append(Token(t=t, call_id=self.call_id, text=text))
        for part in chunk.tool_call_chunks or ():
            index = part.get("index") or 0
            if part.get("name"):
                self.tool_names[index] = part["name"]
            if part.get("args"):
                out.append(Token(t=t, call_id=self.call_id, text=part["args"], token_kind="tool_args",
                                 tool_call_index=index, tool_name=self.tool_names.get(index)))
        return out

    def end(self, t: float, final: BaseMessage | None = None) -> list[StreamEvent]:
        """The ModelEnd (from ``final`` if the source gives the whole message, else the added-up chunks), then one ToolDecision per call."""
        total = add_ai_message_chunks(self.parts[0], *self.parts[1:]) if self.parts else None
        message = final if final is not None else total
        usage = getattr(message, "usage_metadata", None) or (getattr(total, "usage_metadata", None) if total else None)
        metadata = dict(getattr(total, "response_metadata", {}) or {}) | dict(getattr(message, "response_metadata", {}) or {})
        calls = tuple(getattr(message, "tool_calls", ()) or ())
        end = ModelEnd(
            t=t, call_id=self.call_id, node=self.node, step=self.step, text=message_text(getattr(message, "content", "")),
            chunks=self.chunks, input_tokens=usage.get("input_tokens") if usage else None,
            output_tokens=usage.get("output_tokens") if usage else None, finish_reason=metadata.get("finish_reason"),
            tool_calls=tuple(dict(c) for c in calls), namespace=self.namespace, cached_input_tokens=cached_tokens(usage),
            model=metadata.get("model_name") or metadata.get("model"), provider=metadata.get("model_provider"),
        )
        decisions = [
            ToolDecision(t=t, tool=c["name"], args=dict(c.get("args") or {}), tool_call_id=c.get("id") or "",
                         model_call_id=self.call_id, node=self.node, step=self.step)
            for c in calls
        ]
        return [end, *decisions]
