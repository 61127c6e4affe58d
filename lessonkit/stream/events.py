"""The normalized stream-event model: small frozen dataclasses, one per thing that happens in a run.

Every adapter (``graph.astream`` in any mix of modes, ``astream_events(version="v2")``) turns
LangGraph's output into these, so panels, timings and debugging recipes are written once. ``t`` is
seconds since the run started, read when the event reached us.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union

EventKind = Literal[
    "run_start", "run_end", "node_start", "node_end", "model_start", "token", "model_end",
    "tool_decision", "tool_start", "tool_end", "custom", "interrupt", "checkpoint",
]
TokenKind = Literal["text", "tool_args"]
Namespace = tuple[str, ...]  # () for the top graph; ("child:<task id>",) inside a subgraph


@dataclass(frozen=True)
class RunStart:
    t: float
    run_id: str
    thread_id: str | None
    source: str  # which adapter: "astream" or "astream_events"
    kind: Literal["run_start"] = "run_start"


@dataclass(frozen=True)
class RunEnd:
    t: float
    run_id: str
    status: Literal["done", "interrupted", "cancelled", "error"] = "done"
    error: str | None = None
    kind: Literal["run_end"] = "run_end"


@dataclass(frozen=True)
class NodeStart:
    t: float
    node: str
    step: int | None
    task_id: str
    namespace: Namespace = ()
    kind: Literal["node_start"] = "node_start"


@dataclass(frozen=True)
class NodeEnd:
    t: float
    node: str
    step: int | None
    task_id: str
    namespace: Namespace = ()
    writes: tuple[str, ...] = ()  # state keys the node returned
    error: str | None = None
    kind: Literal["node_end"] = "node_end"


@dataclass(frozen=True)
class ModelStart:
    """A model call began (``t`` is exact from astream_events; from astream, the node's start)."""

    t: float
    call_id: str
    node: str
    step: int | None
    namespace: Namespace = ()
    model: str | None = None
    kind: Literal["model_start"] = "model_start"


@dataclass(frozen=True)
class Token:
    """A non-empty piece of a model's output: answer text, or tool-call arguments as they stream."""

    t: float
    call_id: str
    text: str
    token_kind: TokenKind = "text"
    tool_call_index: int | None = None
    tool_name: str | None = None
    kind: Literal["token"] = "token"


@dataclass(frozen=True)
class ModelEnd:
    t: float
    call_id: str
    node: str
    step: int | None
    text: str
    chunks: int  # chunks received, empty ones included (a chunk is not a token)
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    namespace: Namespace = ()
    kind: Literal["model_end"] = "model_end"


@dataclass(frozen=True)
class ToolDecision:
    """The model asked for a tool: which, with what arguments, and which model call decided it."""

    t: float
    tool: str
    args: Mapping[str, Any]
    tool_call_id: str
    model_call_id: str
    node: str
    step: int | None
    kind: Literal["tool_decision"] = "tool_decision"


@dataclass(frozen=True)
class ToolStart:
    t: float
    tool: str
    tool_call_id: str | None
    args: Mapping[str, Any] = field(default_factory=dict)
    node: str | None = None
    kind: Literal["tool_start"] = "tool_start"


@dataclass(frozen=True)
class ToolEnd:
    t: float
    tool: str
    tool_call_id: str | None
    result: str
    error: str | None = None
    node: str | None = None
    kind: Literal["tool_end"] = "tool_end"


@dataclass(frozen=True)
class Custom:
    """Whatever a node sent with ``get_stream_writer()`` (progress, status, partial results)."""

    t: float
    data: Any
    node: str | None = None
    namespace: Namespace = ()
    kind: Literal["custom"] = "custom"


@dataclass(frozen=True)
class InterruptRaised:
    t: float
    value: Any
    interrupt_id: str | None = None
    namespace: Namespace = ()
    kind: Literal["interrupt"] = "interrupt"


@dataclass(frozen=True)
class CheckpointSaved:
    t: float
    checkpoint_id: str
    step: int | None
    source: str | None
    next: tuple[str, ...]
    message_count: int
    namespace: Namespace = ()
    kind: Literal["checkpoint"] = "checkpoint"


StreamEvent = Union[
    RunStart, RunEnd, NodeStart, NodeEnd, ModelStart, Token, ModelEnd, ToolDecision, ToolStart, ToolEnd, Custom,
    InterruptRaised, CheckpointSaved,
]
