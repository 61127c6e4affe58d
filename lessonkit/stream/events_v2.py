"""``graph.astream_events(version="v2")`` events in, the same normalized events out.

Kept for lesson 03, which teaches this API, and for exact model-call times (``on_chat_model_start``).
Its events carry no typed namespace, so the namespace comes from ``checkpoint_ns`` (``checkpoint_ns.py``).
A tool run is paired by its own ``run_id`` (start to end) and matched once to the decision that asked
for it (same tool, same arguments, first come first served), so parallel twin calls stay apart.
"""
from __future__ import annotations

from typing import Any, Mapping

from langchain_core.messages import ToolMessage

from .builder import Clock, EventBuilder
from .checkpoint_ns import graph_namespace
from .events import Custom, Namespace, NodeEnd, NodeStart, StreamEvent, ToolStart


class EventsV2Adapter(EventBuilder):
    """Turns ``astream_events(version="v2")`` events into events: ``adapter.feed(event)``, one at a time."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.nodes: dict[str, NodeStart] = {}  # run_id of the node's outermost chain → its start
        self.open_keys: set[tuple[str, Any, Namespace]] = set()
        self.tool_runs: dict[str, str] = {}  # a running tool's run_id → the tool_call_id its start got

    def feed(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        t = self.clock()
        kind, meta, data = event["event"], event.get("metadata") or {}, event.get("data") or {}
        node, step = meta.get("langgraph_node"), meta.get("langgraph_step")
        ns = graph_namespace(meta.get("langgraph_checkpoint_ns") or meta.get("checkpoint_ns"))
        run_id = event["run_id"]
        if kind == "on_chain_start" and node and event["name"] == node and (node, step, ns) not in self.open_keys:
            self.open_keys.add((node, step, ns))
            self.nodes[run_id] = NodeStart(t=t, node=node, step=step, task_id=run_id, namespace=ns)
            return [self.nodes[run_id]]  # tool starts come exactly, from on_tool_start
        if kind == "on_chain_end" and run_id in self.nodes:
            return self._node_end(self.nodes.pop(run_id), data.get("output"), t)
        if kind == "on_chat_model_start":
            return self.start_call(run_id, node or event["name"], step, ns, t, meta.get("ls_model_name"))
        if kind == "on_chat_model_stream" and run_id in self.calls:
            return self.calls[run_id].add(data["chunk"], t)
        if kind == "on_chat_model_end":
            return self.end_call(run_id, t, data.get("output"))
        if kind == "on_tool_start":
            return [self._tool_start(event["name"], run_id, data.get("input") or {}, t, node)]
        if kind in ("on_tool_end", "on_tool_error"):
            return self._tool_end(event["name"], run_id, data, t, node, kind == "on_tool_error")
        if kind == "on_custom_event":
            return [Custom(t=t, data=data, node=node, namespace=ns)]
        if kind == "on_chain_stream" and not event.get("parent_ids"):
            chunk = data.get("chunk")
            if isinstance(chunk, Mapping) and "__interrupt__" in chunk:
                return [e for item in chunk["__interrupt__"] for e in self.interrupt(item, t, ns)]
        return []

    def _node_end(self, began: NodeStart, output: Any, t: float) -> list[StreamEvent]:
        self.open_keys.discard((began.node, began.step, began.namespace))
        out: list[StreamEvent] = []
        for message in output.get("messages", []) if isinstance(output, Mapping) else ():
            if isinstance(message, ToolMessage):
                out += self.tool_message(message, t, began.node)
        writes = tuple(output) if isinstance(output, Mapping) else ()
        return out + [NodeEnd(t=t, node=began.node, step=began.step, task_id=began.task_id, namespace=began.namespace, writes=writes)]

    def _tool_start(self, tool: str, run_id: str, args: Any, t: float, node: str | None) -> ToolStart:
        """The first waiting decision for this tool with these arguments; a tool nobody decided on keeps its run id."""
        args = dict(args) if isinstance(args, Mapping) else {"input": args}
        decision = next((d for d in self.decisions.values() if d.tool == tool and dict(d.args) == args), None)
        start = self.start_tool(decision, t, node) if decision else self.tools.start(
            ToolStart(t=t, tool=tool, tool_call_id=run_id, args=args, node=node))
        self.tool_runs[run_id] = start.tool_call_id
        return start

    def _tool_end(self, tool: str, run_id: str, data: Mapping[str, Any], t: float, node: str | None, failed: bool) -> list[StreamEvent]:
        """End the start of this run; a ToolMessage (or error) naming another open call of its twin ends that one."""
        output = data.get("output")
        said = output.tool_call_id if isinstance(output, ToolMessage) else data.get("tool_call_id")
        call_id = said if said in self.tools.open else self.tool_runs.get(run_id) or said or run_id
        self.tool_runs.pop(run_id, None)
        if isinstance(output, ToolMessage):
            return self.tool_message(output, t, node, call_id)
        error = str(data.get("error")) if failed else None
        return list(self.tools.end(t=t, tool_call_id=call_id, tool=tool, result="" if output is None else str(output), error=error, node=node))
