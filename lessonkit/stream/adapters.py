"""Adapters: LangGraph's stream output in, normalized events (``events.py``) out.

Two sources, one event model:
- ``graph.astream`` / ``graph.stream`` with any mix of the messages, updates, custom, tasks and
  checkpoints modes, with or without ``subgraphs=True``; and
- ``graph.astream_events(version="v2")``.

``watch`` / ``watch_sync`` run a graph and yield events; ``StreamAdapter`` and ``EventsV2Adapter``
convert items you already have (for example a recorded list) one at a time. Empty chunks are
counted but never become tokens: a chunk is not a token.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Mapping, Sequence

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.ai import add_ai_message_chunks

from .events import (
    Custom, CheckpointSaved, InterruptRaised, ModelEnd, ModelStart, Namespace, NodeEnd, NodeStart, RunEnd, RunStart,
    StreamEvent, Token, ToolDecision, ToolEnd, ToolStart,
)

Clock = Callable[[], float]
DEFAULT_MODES: tuple[str, ...] = ("messages", "updates", "custom", "tasks", "checkpoints")


def _text(content: Any) -> str:
    """Message content as text (OpenAI gives a string; some models give a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


TOOL_ERROR_PREFIX = "Error: "  # LangGraph's convention (ToolNode, the lesson agent): a failed tool's ToolMessage starts so


def tool_error_text(content: str) -> str:
    """A failed tool's error as panels show it, once: ``ConnectionError: ...``, not ``Error: ConnectionError: ...``.

    The ToolMessage keeps LangGraph's ``Error: `` prefix (it is what the model reads); after a
    panel's own "error" label the prefix would say it twice.
    """
    return content[len(TOOL_ERROR_PREFIX):] if content.startswith(TOOL_ERROR_PREFIX) else content


def _namespace(checkpoint_ns: str | None) -> Namespace:
    """'parent:<id>|child:<id>' → ('parent:<id>',): the graphs around the node, not the node itself."""
    parts = [p for p in (checkpoint_ns or "").split("|") if p]
    return tuple(parts[:-1])


class _ModelCall:
    """One model call being streamed: counts chunks, emits tokens, adds the chunks up."""

    def __init__(self, call_id: str, node: str, step: int | None, namespace: Namespace) -> None:
        self.call_id, self.node, self.step, self.namespace = call_id, node, step, namespace
        self.parts: list[AIMessageChunk] = []  # added up once at the end: pairwise adding is quadratic
        self.chunks = 0
        self.tool_names: dict[int, str] = {}

    def add(self, chunk: AIMessageChunk, t: float) -> list[StreamEvent]:
        self.chunks += 1
        self.parts.append(chunk)
        out: list[StreamEvent] = []
        text = _text(chunk.content)
        if text:
            out.append(Token(t, self.call_id, text))
        for part in chunk.tool_call_chunks or ():
            index = part.get("index") or 0
            if part.get("name"):
                self.tool_names[index] = part["name"]
            if part.get("args"):
                out.append(Token(t, self.call_id, part["args"], "tool_args", index, self.tool_names.get(index)))
        return out

    def end(self, t: float, final: BaseMessage | None = None) -> list[StreamEvent]:
        total = add_ai_message_chunks(self.parts[0], *self.parts[1:]) if self.parts else None
        message = final if final is not None else total
        usage = getattr(message, "usage_metadata", None) or (getattr(total, "usage_metadata", None) if total else None)
        metadata = dict(getattr(total, "response_metadata", {}) or {}) | dict(getattr(message, "response_metadata", {}) or {})
        calls = tuple(getattr(message, "tool_calls", ()) or ())
        end = ModelEnd(
            t, self.call_id, self.node, self.step, _text(getattr(message, "content", "")), self.chunks,
            usage.get("input_tokens") if usage else None, usage.get("output_tokens") if usage else None,
            metadata.get("finish_reason"), tuple(dict(c) for c in calls), self.namespace,
        )
        decisions = [
            ToolDecision(t, c["name"], dict(c.get("args") or {}), c.get("id") or "", self.call_id, self.node, self.step) for c in calls
        ]
        return [end, *decisions]


class _Builder:
    """What both adapters share: open model calls, tool decisions waiting to run, and the clock."""

    def __init__(self, clock: Clock | None = None) -> None:
        start = time.monotonic()
        self.clock: Clock = clock or (lambda: time.monotonic() - start)
        self.calls: dict[str, _ModelCall] = {}
        self.finished_calls: set[str] = set()
        self.decisions: dict[str, ToolDecision] = {}  # tool_call_id → decision, until the tool starts
        self.started_tools: dict[str, ToolStart] = {}
        self.ended_tools: set[str] = set()
        self.interrupts: set[str] = set()

    def start_call(self, call_id: str, node: str, step: int | None, ns: Namespace, t: float, model: str | None = None) -> list[StreamEvent]:
        self.calls[call_id] = _ModelCall(call_id, node, step, ns)
        return [ModelStart(t, call_id, node, step, ns, model)]

    def end_call(self, call_id: str, t: float, final: BaseMessage | None = None) -> list[StreamEvent]:
        call = self.calls.pop(call_id, None)
        if call is None or call_id in self.finished_calls:
            return []
        self.finished_calls.add(call_id)
        out = call.end(t, final)
        for event in out:
            if isinstance(event, ToolDecision):
                self.decisions[event.tool_call_id] = event
        return out

    def whole_message(self, message: AIMessage, node: str, step: int | None, ns: Namespace, t: float, start: float | None = None) -> list[StreamEvent]:
        """A model answer that arrived in one piece (not streamed): start, one token, end."""
        call_id = message.id or f"call-{uuid.uuid4()}"
        if call_id in self.finished_calls or call_id in self.calls:
            return self.end_call(call_id, t, message) if call_id in self.calls else []
        out = self.start_call(call_id, node, step, ns, start if start is not None else t)
        out += self.calls[call_id].add(AIMessageChunk(content=message.content, id=message.id), t) if _text(message.content) else []
        return out + self.end_call(call_id, t, message)

    def tools_start(self, node: str, t: float) -> list[StreamEvent]:
        """A node started after tools were chosen: it is the one running them (ToolNode, 'action')."""
        out: list[StreamEvent] = []
        for call_id, decision in list(self.decisions.items()):
            if decision.node != node:
                start = ToolStart(t, decision.tool, call_id, decision.args, node)
                self.started_tools[call_id] = start
                del self.decisions[call_id]
                out.append(start)
        return out

    def tool_message(self, message: ToolMessage, t: float, node: str | None) -> list[StreamEvent]:
        call_id = message.tool_call_id
        if call_id in self.ended_tools:
            return []
        self.ended_tools.add(call_id)
        start = self.started_tools.get(call_id)
        error = tool_error_text(_text(message.content)) if getattr(message, "status", "success") == "error" else None
        return [ToolEnd(t, message.name or (start.tool if start else "tool"), call_id, _text(message.content), error, node)]

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
        return [InterruptRaised(t, value, interrupt_id, ns)]


class StreamAdapter(_Builder):
    """Turns ``(namespace, mode, data)`` items from ``astream(..., subgraphs=True)`` into events."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.tasks: dict[str, NodeStart] = {}
        self.using_tasks = False
        self.last_step: dict[Namespace, int] = {}  # per graph: the step of its latest checkpoint

    def feed(self, namespace: Sequence[str], mode: str, data: Any) -> list[StreamEvent]:
        t, ns = self.clock(), tuple(namespace)
        handler = getattr(self, f"_on_{mode}", None)
        return handler(ns, data, t) if handler else []

    def _on_tasks(self, ns: Namespace, data: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.using_tasks = True
        task_id, node = data["id"], data["name"]
        if "input" in data:  # a task starting
            step = self.last_step[ns] + 1 if ns in self.last_step else None  # tasks run one step past the checkpoint
            start = NodeStart(t, node, step, task_id, ns)
            self.tasks[task_id] = start
            return [start, *self.tools_start(node, t)]
        began = self.tasks.pop(task_id, None)
        result = data.get("result")
        writes = tuple(result) if isinstance(result, Mapping) else ()
        out: list[StreamEvent] = []
        for message in (result or {}).get("messages", []) if isinstance(result, Mapping) else ():
            out += self._message_done(message, node, began.step if began else None, ns, t, began.t if began else None)
        for item in data.get("interrupts") or ():
            out += self.interrupt(item, t, ns)
        error = data.get("error")
        out.append(NodeEnd(t, node, began.step if began else None, task_id, ns, writes, str(error) if error else None))
        return out

    def _message_done(self, message: Any, node: str, step: int | None, ns: Namespace, t: float, start: float | None) -> list[StreamEvent]:
        if isinstance(message, ToolMessage):
            return self.tool_message(message, t, node)
        if isinstance(message, AIMessage) and not isinstance(message, AIMessageChunk):
            return self.whole_message(message, node, step, ns, t, start)
        return []

    def _on_messages(self, ns: Namespace, data: tuple[Any, Mapping[str, Any]], t: float) -> list[StreamEvent]:
        message, meta = data
        node, step = meta.get("langgraph_node", "?"), meta.get("langgraph_step")
        task_id = (meta.get("langgraph_checkpoint_ns") or "").split("|")[-1].partition(":")[2]
        if isinstance(message, AIMessageChunk):
            call_id = message.id or "model"
            out: list[StreamEvent] = []
            if call_id not in self.calls and call_id not in self.finished_calls:
                began = self.tasks.get(task_id)  # a model call starts when its node does, as far as astream can tell
                out += self.start_call(call_id, node, step, ns, began.t if began else t, meta.get("ls_model_name"))
            if call_id in self.calls:
                out += self.calls[call_id].add(message, t)
                if getattr(message, "chunk_position", None) == "last":
                    out += self.end_call(call_id, t)
            return out
        began = self.tasks.get(task_id)
        return self._message_done(message, node, step, ns, t, began.t if began else None)

    def _on_updates(self, ns: Namespace, data: Mapping[str, Any], t: float) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for node, update in (data or {}).items():
            if node == "__interrupt__":
                for item in update:
                    out += self.interrupt(item, t, ns)
                continue
            messages = update.get("messages", []) if isinstance(update, Mapping) else []
            for message in messages if isinstance(messages, list) else [messages]:
                out += self._message_done(message, node, None, ns, t, None)
            if not self.using_tasks:
                out.append(NodeEnd(t, node, None, "", ns, tuple(update) if isinstance(update, Mapping) else ()))
        return out

    def _on_custom(self, ns: Namespace, data: Any, t: float) -> list[StreamEvent]:
        return [Custom(t, data, None, ns)]

    def _on_checkpoints(self, ns: Namespace, data: Mapping[str, Any], t: float) -> list[StreamEvent]:
        configurable = data["config"]["configurable"]
        metadata = data.get("metadata") or {}
        values = data.get("values") or {}
        messages = values.get("messages", []) if isinstance(values, Mapping) else []
        if isinstance(metadata.get("step"), int):
            self.last_step[ns] = metadata["step"]
        return [CheckpointSaved(t, configurable["checkpoint_id"], metadata.get("step"), metadata.get("source"), tuple(data.get("next") or ()), len(messages), ns)]


class EventsV2Adapter(_Builder):
    """Turns ``astream_events(version="v2")`` events into the same model."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.nodes: dict[str, NodeStart] = {}  # run_id of the node's outermost chain → its start
        self.open_keys: set[tuple[str, Any, Namespace]] = set()

    def feed(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        t = self.clock()
        kind, meta, data = event["event"], event.get("metadata") or {}, event.get("data") or {}
        node, step = meta.get("langgraph_node"), meta.get("langgraph_step")
        ns = _namespace(meta.get("langgraph_checkpoint_ns") or meta.get("checkpoint_ns"))
        run_id = event["run_id"]
        if kind == "on_chain_start" and node and event["name"] == node and (node, step, ns) not in self.open_keys:
            self.open_keys.add((node, step, ns))
            self.nodes[run_id] = NodeStart(t, node, step, run_id, ns)
            return [self.nodes[run_id]]  # tool starts come exactly, from on_tool_start
        if kind == "on_chain_end" and run_id in self.nodes:
            began = self.nodes.pop(run_id)
            self.open_keys.discard((began.node, began.step, began.namespace))
            output = data.get("output")
            writes = tuple(output) if isinstance(output, Mapping) else ()
            out: list[StreamEvent] = []
            for message in output.get("messages", []) if isinstance(output, Mapping) else ():
                if isinstance(message, ToolMessage):
                    out += self.tool_message(message, t, began.node)
            return out + [NodeEnd(t, began.node, began.step, run_id, began.namespace, writes)]
        if kind == "on_chat_model_start":
            return self.start_call(run_id, node or event["name"], step, ns, t, meta.get("ls_model_name"))
        if kind == "on_chat_model_stream" and run_id in self.calls:
            return self.calls[run_id].add(data["chunk"], t)
        if kind == "on_chat_model_end":
            return self.end_call(run_id, t, data.get("output"))
        if kind == "on_tool_start":
            return [self._tool_start(event["name"], data.get("input") or {}, t, node)]
        if kind in ("on_tool_end", "on_tool_error"):
            return self._tool_end(event["name"], data, t, node, kind == "on_tool_error")
        if kind == "on_custom_event":
            return [Custom(t, data, node, ns)]
        if kind == "on_chain_stream" and not event.get("parent_ids"):
            chunk = data.get("chunk")
            if isinstance(chunk, Mapping) and "__interrupt__" in chunk:
                return [e for item in chunk["__interrupt__"] for e in self.interrupt(item, t, ns)]
        return []

    def _tool_start(self, tool: str, args: Any, t: float, node: str | None) -> ToolStart:
        """Match the tool run to the decision that asked for it (same tool, same arguments)."""
        args = dict(args) if isinstance(args, Mapping) else {"input": args}
        call_id = next((cid for cid, s in self.started_tools.items() if s.tool == tool and s.args == args and cid not in self.ended_tools), None)
        if call_id is None:
            call_id = next((cid for cid, d in self.decisions.items() if d.tool == tool and dict(d.args) == args), None)
            if call_id:
                del self.decisions[call_id]
        start = ToolStart(t, tool, call_id, args, node)
        if call_id:
            self.started_tools[call_id] = start
        return start

    def _tool_end(self, tool: str, data: Mapping[str, Any], t: float, node: str | None, failed: bool) -> list[StreamEvent]:
        args = data.get("input") or {}
        call_id = next((cid for cid, s in self.started_tools.items() if s.tool == tool and cid not in self.ended_tools and (not args or s.args == args)), None)
        output = data.get("output")
        if isinstance(output, ToolMessage):
            return self.tool_message(output, t, node)
        if call_id:
            self.ended_tools.add(call_id)
        error = str(data.get("error")) if failed else None
        return [ToolEnd(t, tool, call_id, "" if output is None else str(output), error, node)]


Source = Literal["astream", "astream_events"]


def _run_start(config: Mapping[str, Any] | None, source: Source, clock: Clock) -> RunStart:
    thread = ((config or {}).get("configurable") or {}).get("thread_id")
    return RunStart(clock(), str(uuid.uuid4()), thread, source)


def _run_end(run: RunStart, interrupted: bool, clock: Clock, error: BaseException | None = None) -> RunEnd:
    if error is not None:
        status: Any = "cancelled" if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)) else "error"
        return RunEnd(clock(), run.run_id, status, None if status == "cancelled" else f"{type(error).__name__}: {error}")
    return RunEnd(clock(), run.run_id, "interrupted" if interrupted else "done")


async def watch(
    graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, *, via: Source = "astream",
    modes: Sequence[str] = DEFAULT_MODES, clock: Clock | None = None, **kwargs: Any,
) -> AsyncIterator[StreamEvent]:
    """Run ``graph`` asynchronously and yield normalized events, RunStart first and RunEnd last.

    ``graph`` may also be anything with ``lessonkit_events(inputs, config, clock=..., **kwargs)`` (a served
    agent, ``lessonkit.serve.client.ServedAgent``): its events are passed on as they are.
    """
    served = getattr(graph, "lessonkit_events", None)
    if callable(served):
        async for event in served(inputs, config, clock=clock, **kwargs):
            yield event
        return
    if via == "astream":
        adapter: StreamAdapter | EventsV2Adapter = StreamAdapter(clock)
        items = graph.astream(inputs, config, stream_mode=list(modes), subgraphs=True, **kwargs)
        feed: Callable[[Any], list[StreamEvent]] = lambda item: adapter.feed(*item)  # (namespace, mode, data)
    else:
        adapter = EventsV2Adapter(clock)
        items = graph.astream_events(inputs, config, version="v2", **kwargs)
        feed = adapter.feed
    run = _run_start(config, via, adapter.clock)
    yield run
    interrupted = False
    try:
        async for item in items:
            for event in feed(item):
                interrupted = interrupted or isinstance(event, InterruptRaised)
                yield event
    except BaseException as error:
        yield _run_end(run, interrupted, adapter.clock, error)
        raise
    yield _run_end(run, interrupted, adapter.clock)


def watch_sync(
    graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, *, modes: Sequence[str] = DEFAULT_MODES,
    clock: Clock | None = None, **kwargs: Any,
) -> Iterator[StreamEvent]:
    """The same for ``graph.stream`` (a sync graph with SqliteSaver)."""
    adapter = StreamAdapter(clock)
    run = _run_start(config, "astream", adapter.clock)
    yield run
    interrupted = False
    try:
        for ns, mode, data in graph.stream(inputs, config, stream_mode=list(modes), subgraphs=True, **kwargs):
            for event in adapter.feed(ns, mode, data):
                interrupted = interrupted or isinstance(event, InterruptRaised)
                yield event
    except BaseException as error:
        yield _run_end(run, interrupted, adapter.clock, error)
        raise
    yield _run_end(run, interrupted, adapter.clock)
