"""The wire event schema: lessonkit's StreamEvents as JSON objects with a ``type``, and their SSE framing.

Pure functions only, so the schema in ``docs/serving.md`` is tested without a server, and SSE and
WebSocket send exactly the same objects. Every object passes ``redact_data`` before it leaves: a tool's
result or an error message may quote a key.

Core types (always sent): ``metadata``, ``token``, ``tool_call``, ``tool_result``, ``interrupt``,
``error``, ``end``. Extras a request may ask for with ``stream_mode``: ``nodes`` (``node_start``,
``node_end``), ``model`` (``model_start``, ``tool_args``, ``model_end`` with usage), ``tools``
(``tool_start``), ``checkpoints`` (``checkpoint``), ``custom``. With ``model`` and ``tools`` a client
can rebuild every event lessonkit's panels and timings read (``lessonkit.serve.client``).
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Literal, Mapping

from lessonkit.support.redact import redact, redact_data
from lessonkit.stream.events import (
    CheckpointSaved, Custom, InterruptRaised, ModelEnd, ModelStart, NodeEnd, NodeStart, StreamEvent, Token, ToolDecision,
    ToolEnd, ToolStart,
)

WireEvent = dict[str, Any]
Extra = Literal["nodes", "model", "tools", "checkpoints", "custom"]
EXTRAS: tuple[str, ...] = ("nodes", "model", "tools", "checkpoints", "custom")
CORE_TYPES: tuple[str, ...] = ("metadata", "token", "tool_call", "tool_result", "interrupt", "error", "end")
TERMINAL_TYPES = frozenset({"end", "error"})
END_STATUSES = ("done", "interrupted", "cancelled")
ERROR_CODES = ("timeout", "busy", "database_unavailable", "failed", "cancelled")
DONE = "data: [DONE]\n\n"
HEARTBEAT = ": heartbeat\n\n"


def parse_stream_mode(value: object) -> tuple[str, ...]:
    """The extras a request asked for, from a string, a list, or None; ValueError naming what is allowed.

    ``"events"`` (or nothing) means the core types only, so a client can say so explicitly.
    """
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"stream_mode must be a string or a list of strings, not {type(value).__name__}")
    unknown = [v for v in items if v not in EXTRAS and v != "events"]
    if unknown:
        raise ValueError(f"stream_mode {unknown[0]!r} is not one of {', '.join(('events',) + EXTRAS)} "
                         "(the core events metadata, token, tool_call, tool_result, interrupt, error, end are always sent)")
    return tuple(dict.fromkeys(v for v in items if v != "events"))


def to_wire(event: StreamEvent, extras: Iterable[str] = ()) -> WireEvent | None:
    """One StreamEvent as a wire object, or None when this stream does not carry it.

    RunStart and RunEnd are not mapped here: the run manager sends ``metadata`` and the terminal
    ``end``/``error`` itself, since only it knows about timeouts, cancels and the lock.
    """
    wanted = set(extras)
    if isinstance(event, Token):
        if event.token_kind == "text":
            return {"type": "token", "content": event.text, "call_id": event.call_id}
        if "model" in wanted:  # tool-call arguments as the model streams them
            return {"type": "tool_args", "content": event.text, "call_id": event.call_id, "index": event.tool_call_index,
                    "name": event.tool_name}
        return None
    if isinstance(event, ToolDecision):
        return {"type": "tool_call", "id": event.tool_call_id, "name": event.tool, "args": dict(event.args), "node": event.node,
                "call_id": event.model_call_id, "step": event.step}
    if isinstance(event, ToolEnd):
        return {"type": "tool_result", "id": event.tool_call_id, "name": event.tool, "content": event.result,
                "status": "error" if event.error is not None else "success", "node": event.node}
    if isinstance(event, ToolStart) and "tools" in wanted:
        return {"type": "tool_start", "id": event.tool_call_id, "name": event.tool, "args": dict(event.args), "node": event.node}
    if isinstance(event, ModelStart) and "model" in wanted:
        return {"type": "model_start", "call_id": event.call_id, "node": event.node, "step": event.step,
                "namespace": list(event.namespace), "model": event.model, "t": round(event.t, 4)}
    if isinstance(event, InterruptRaised):
        return {"type": "interrupt", "id": event.interrupt_id, "value": event.value, "namespace": list(event.namespace)}
    if isinstance(event, NodeStart) and "nodes" in wanted:
        return {"type": "node_start", "node": event.node, "step": event.step, "namespace": list(event.namespace)}
    if isinstance(event, NodeEnd) and "nodes" in wanted:
        return {"type": "node_end", "node": event.node, "step": event.step, "namespace": list(event.namespace),
                "writes": list(event.writes), "error": event.error}
    if isinstance(event, ModelEnd) and "model" in wanted:
        return {"type": "model_end", "call_id": event.call_id, "node": event.node, "content": event.text,
                "finish_reason": event.finish_reason, "input_tokens": event.input_tokens, "output_tokens": event.output_tokens,
                "step": event.step, "chunks": event.chunks, "namespace": list(event.namespace),
                "cached_input_tokens": event.cached_input_tokens, "model": event.model, "provider": event.provider}
    if isinstance(event, CheckpointSaved) and "checkpoints" in wanted:
        return {"type": "checkpoint", "checkpoint_id": event.checkpoint_id, "step": event.step, "source": event.source,
                "next": list(event.next), "message_count": event.message_count, "namespace": list(event.namespace)}
    if isinstance(event, Custom) and "custom" in wanted:
        return {"type": "custom", "data": event.data, "node": event.node}
    return None


def metadata_event(run_id: str, thread_id: str, *, multitask: str, on_disconnect: str, resumed: bool) -> WireEvent:
    """The first event of every run: which run this is (for rejoining) and the policies it runs under."""
    return {"type": "metadata", "run_id": run_id, "thread_id": thread_id, "multitask": multitask,
            "on_disconnect": on_disconnect, "resume": resumed}


def end_event(run_id: str, status: str) -> WireEvent:
    """The terminal event of a run that stopped without an error: done, interrupted (waiting for a resume) or cancelled."""
    return {"type": "end", "run_id": run_id, "status": status}


def error_event(run_id: str, code: str, message: str) -> WireEvent:
    """The terminal event of a run that failed: ``error`` is a stable code, ``message`` says what to do."""
    return {"type": "error", "run_id": run_id, "error": code, "message": redact(message)}


def jsonable(value: Any) -> Any:
    """``value`` made JSON-safe (an interrupt value or custom data may hold anything), then redacted."""
    return redact_data(json.loads(json.dumps(value, default=_fallback)))


def _fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def encode_sse(event_id: int, event: Mapping[str, Any]) -> str:
    """One SSE message: ``id: N`` and one ``data:`` line of compact JSON (JSON never holds a raw newline)."""
    return f"id: {event_id}\ndata: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n"


def with_id(event_id: int, event: Mapping[str, Any]) -> WireEvent:
    """The WebSocket form of an event: the same object with its ``id`` (SSE carries it on the ``id:`` line)."""
    return {**event, "event_id": event_id}


def parse_last_event_id(value: str | None) -> int:
    """The ``Last-Event-ID`` header as the number of events the client has (0: none, replay from the start)."""
    if value is None or not value.strip():
        return 0
    text = value.strip()
    if not text.isdigit():
        raise ValueError(f"Last-Event-ID {text[:40]!r} is not an event id this server sent (they are 1, 2, 3, ...)")
    return int(text)
