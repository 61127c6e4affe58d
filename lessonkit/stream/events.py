"""The normalized stream-event model: small frozen dataclasses, one per thing that happens in a run.

Every adapter (``graph.astream`` in any mix of modes, ``astream_events(version="v2")``) turns
LangGraph's output into these, so panels, timings and debugging recipes are written once. ``t`` is
seconds since the run started, read when the event reached us.

Like LangGraph's own types (``langgraph.types``) the events are ``kw_only, slots, frozen``: built by
name, so adding a field never shifts another; small; and safe to share between panels.
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


@dataclass(kw_only=True, slots=True, frozen=True)
class RunStart:
    t: float
    run_id: str
    thread_id: str | None
    source: str  # which adapter: "astream" or "astream_events"
    kind: Literal["run_start"] = "run_start"


@dataclass(kw_only=True, slots=True, frozen=True)
class RunEnd:
    t: float
    run_id: str
    status: Literal["done", "interrupted", "cancelled", "error"] = "done"
    error: str | None = None
    kind: Literal["run_end"] = "run_end"


@dataclass(kw_only=True, slots=True, frozen=True)
class NodeStart:
    t: float
    node: str
    step: int | None
    task_id: str
    namespace: Namespace = ()
    kind: Literal["node_start"] = "node_start"


@dataclass(kw_only=True, slots=True, frozen=True)
class NodeEnd:
    t: float
    node: str
    step: int | None
    task_id: str
    namespace: Namespace = ()
    writes: tuple[str, ...] = ()  # state keys the node returned
    error: str | None = None
    kind: Literal["node_end"] = "node_end"


@dataclass(kw_only=True, slots=True, frozen=True)
class ModelStart:
    """A model call began (``t`` is exact from astream_events; from astream, the node's start)."""

    t: float
    call_id: str
    node: str
    step: int | None
    namespace: Namespace = ()
    model: str | None = None
    kind: Literal["model_start"] = "model_start"


@dataclass(kw_only=True, slots=True, frozen=True)
class Token:
    """A non-empty piece of a model's output: answer text, or tool-call arguments as they stream."""

    t: float
    call_id: str
    text: str
    token_kind: TokenKind = "text"
    tool_call_index: int | None = None
    tool_name: str | None = None
    kind: Literal["token"] = "token"


@dataclass(kw_only=True, slots=True, frozen=True)
class ModelEnd:
    """A model call finished: its whole text, the tool calls it decided, and its usage (for timings and cost)."""

    t: float
    call_id: str
    node: str
    step: int | None
    text: str
    chunks: int  # chunks received, empty ones included (a chunk is not a token)
    input_tokens: int | None = None  # all input tokens, cached ones included
    output_tokens: int | None = None
    finish_reason: str | None = None
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    namespace: Namespace = ()
    cached_input_tokens: int | None = None  # of input_tokens, read from the provider's prompt cache (priced lower)
    model: str | None = None  # the model that answered (``gpt-4o-2024-08-06``), as the response names it
    provider: str | None = None  # ``openai``: with ``model``, what the call is priced by
    kind: Literal["model_end"] = "model_end"


@dataclass(kw_only=True, slots=True, frozen=True)
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


@dataclass(kw_only=True, slots=True, frozen=True)
class ToolStart:
    """A tool began. ``tool_call_id`` is the model's id for the call when a ToolDecision asked for it,
    else an id of the tool run itself (a tool run outside an agent): every start has one."""

    t: float
    tool: str
    tool_call_id: str
    args: Mapping[str, Any] = field(default_factory=dict)
    node: str | None = None
    kind: Literal["tool_start"] = "tool_start"


@dataclass(kw_only=True, slots=True, frozen=True)
class ToolEnd:
    """A tool finished. The adapter paired it with its ToolStart once: same ``tool_call_id``, and
    ``started`` is that start's ``t`` (None: no start was seen, e.g. a rejected call answered at once)."""

    t: float
    tool: str
    tool_call_id: str
    result: str
    error: str | None = None
    node: str | None = None
    started: float | None = None
    kind: Literal["tool_end"] = "tool_end"


@dataclass(kw_only=True, slots=True, frozen=True)
class Custom:
    """Whatever a node sent with ``get_stream_writer()`` (progress, status, partial results)."""

    t: float
    data: Any
    node: str | None = None
    namespace: Namespace = ()
    kind: Literal["custom"] = "custom"


@dataclass(kw_only=True, slots=True, frozen=True)
class InterruptRaised:
    t: float
    value: Any
    interrupt_id: str | None = None
    namespace: Namespace = ()
    kind: Literal["interrupt"] = "interrupt"


@dataclass(kw_only=True, slots=True, frozen=True)
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
