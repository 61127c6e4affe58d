"""Tool starts and ends paired once, by ``tool_call_id``, where events are made.

Every adapter (astream parts, astream_events v2, the served wire) pairs through ``ToolPairs``, so a
ToolEnd always carries its ToolStart's id and time (``started``): timings, recipes and panels need
no pairing of their own, and two parallel calls of one tool with the same arguments stay apart.
"""
from __future__ import annotations

from .events import ToolEnd, ToolStart

TOOL_ERROR_PREFIX = "Error: "  # LangGraph's convention (ToolNode, the lesson agent): a failed tool's ToolMessage starts so


def tool_error_text(content: str) -> str:
    """A failed tool's error as panels show it, once: ``ConnectionError: ...``, not ``Error: ConnectionError: ...``.

    The ToolMessage keeps LangGraph's ``Error: `` prefix (it is what the model reads); after a
    panel's own "error" label the prefix would say it twice.
    """
    return content[len(TOOL_ERROR_PREFIX):] if content.startswith(TOOL_ERROR_PREFIX) else content


class ToolPairs:
    """Open tool starts by id; each id ends once (sources report a tool's result in several places)."""

    def __init__(self) -> None:
        self.open: dict[str, ToolStart] = {}
        self.ended: set[str] = set()

    def start(self, start: ToolStart) -> ToolStart:
        self.open[start.tool_call_id] = start
        return start

    def end(self, *, t: float, tool_call_id: str, tool: str | None, result: str, error: str | None = None,
            node: str | None = None) -> list[ToolEnd]:
        """The ToolEnd of ``tool_call_id``, carrying its start's time; [] if that id has ended already."""
        if tool_call_id in self.ended:
            return []
        self.ended.add(tool_call_id)
        start = self.open.pop(tool_call_id, None)
        name = tool or (start.tool if start else "tool")
        return [ToolEnd(t=t, tool=name, tool_call_id=tool_call_id, result=result, error=error, node=node,
                        started=start.t if start else None)]
