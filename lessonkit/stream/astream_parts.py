"""``graph.astream(..., subgraphs=True, version="v2")`` parts in, normalized events out.

LangGraph's v2 parts are typed dicts (``langgraph.types.StreamPart``: ``type``, ``ns``, ``data``), so
the mode and the namespace are read by name, never unpacked from tuples. Any mix of the messages,
updates, custom, tasks and checkpoints modes works; tasks mode gives exact node starts and ends.
"""
from __future__ import annotations

from typing import Any, Mapping

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langgraph.types import CheckpointPayload, StreamPart, TaskPayload, TaskResultPayload

from .builder import Clock, EventBuilder
from .checkpoint_ns import task_id_of
from .events import CheckpointSaved, Custom, Namespace, NodeEnd, NodeStart, StreamEvent


class StreamAdapter(EventBuilder):
    """Turns the v2 parts of ``astream``/``stream`` into events: ``adapter.feed(part)``, one part at a time."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.tasks: dict[str, NodeStart] = {}  # task id → its start, while it runs
        self.using_tasks = False
        self.last_step: dict[Namespace, int] = {}  # per graph: the step of its latest checkpoint

    def feed(self, part: StreamPart[Any, Any]) -> list[StreamEvent]:
        """The events one part makes (often none: an empty chunk, an answer already reported)."""
        handler = getattr(self, f"_on_{part['type']}", None)
        return handler(tuple(part["ns"]), part["data"], self.clock()) if handler else []

    def _on_tasks(self, ns: Namespace, data: TaskPayload | TaskResultPayload, t: float) -> list[StreamEvent]:
        self.using_tasks = True
        task_id, node = data["id"], data["name"]
        if "input" in data:  # a task starting; if tools were chosen, it is the node running them (ToolNode, 'action')
            step = self.last_step[ns] + 1 if ns in self.last_step else None  # tasks run one step past the checkpoint
            start = self.tasks[task_id] = NodeStart(t=t, node=node, step=step, task_id=task_id, namespace=ns)
            tools = [self.start_tool(d, t, node) for d in list(self.decisions.values()) if d.node != node]
            return [start, *tools]
        began = self.tasks.pop(task_id, None)
        step, result = (began.step if began else None), data.get("result")
        out: list[StreamEvent] = []
        for message in (result or {}).get("messages", []) if isinstance(result, Mapping) else ():
            out += self._message_done(message, node, step, ns, t, began.t if began else None)
        for item in data.get("interrupts") or ():
            out += self.interrupt(item, t, ns)
        error = data.get("error")
        writes = tuple(result) if isinstance(result, Mapping) else ()
        return out + [NodeEnd(t=t, node=node, step=step, task_id=task_id, namespace=ns, writes=writes, error=str(error) if error else None)]

    def _message_done(self, message: Any, node: str, step: int | None, ns: Namespace, t: float, start: float | None) -> list[StreamEvent]:
        if isinstance(message, ToolMessage):
            return self.tool_message(message, t, node)
        if isinstance(message, AIMessage) and not isinstance(message, AIMessageChunk):
            return self.whole_message(message, node, step, ns, t, start)
        return []

    def _on_messages(self, ns: Namespace, data: tuple[Any, Mapping[str, Any]], t: float) -> list[StreamEvent]:
        message, meta = data
        node, step = meta.get("langgraph_node", "?"), meta.get("langgraph_step")
        began = self.tasks.get(task_id_of(meta))  # a model call starts when its node does, as far as astream can tell
        if not isinstance(message, AIMessageChunk):
            return self._message_done(message, node, step, ns, t, began.t if began else None)
        call_id = message.id or "model"
        out: list[StreamEvent] = []
        if call_id not in self.calls and call_id not in self.finished_calls:
            out += self.start_call(call_id, node, step, ns, began.t if began else t, meta.get("ls_model_name"))
        if call_id in self.calls:
            out += self.calls[call_id].add(message, t)
            if getattr(message, "chunk_position", None) == "last":
                out += self.end_call(call_id, t)
        return out

    def _on_updates(self, ns: Namespace, data: Mapping[str, Any], t: float) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for node, update in (data or {}).items():
            if node == "__interrupt__":
                out += [e for item in update for e in self.interrupt(item, t, ns)]
                continue
            messages = update.get("messages", []) if isinstance(update, Mapping) else []
            for message in messages if isinstance(messages, list) else [messages]:
                out += self._message_done(message, node, None, ns, t, None)
            if not self.using_tasks:
                out.append(NodeEnd(t=t, node=node, step=None, task_id="", namespace=ns, writes=tuple(update) if isinstance(update, Mapping) else ()))
        return out

    def _on_custom(self, ns: Namespace, data: Any, t: float) -> list[StreamEvent]:
        return [Custom(t=t, data=data, node=None, namespace=ns)]

    def _on_checkpoints(self, ns: Namespace, data: CheckpointPayload[Any], t: float) -> list[StreamEvent]:
        metadata, values = data.get("metadata") or {}, data.get("values") or {}
        messages = values.get("messages", []) if isinstance(values, Mapping) else []
        if isinstance(metadata.get("step"), int):
            self.last_step[ns] = metadata["step"]
        return [CheckpointSaved(t=t, checkpoint_id=(data["config"] or {})["configurable"]["checkpoint_id"], step=metadata.get("step"),
                                source=metadata.get("source"), next=tuple(data.get("next") or ()), message_count=len(messages), namespace=ns)]
