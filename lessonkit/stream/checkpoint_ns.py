"""The two facts lessonkit reads out of a ``checkpoint_ns`` string, each in one named function.

Parsing is the only way to get them: LangGraph's messages-mode metadata names a model call's task
only inside ``langgraph_checkpoint_ns`` (``"parent:<task id>|node:<task id>"``; there is no task-id
key, and tasks-mode payloads drop that key), and ``astream_events`` events carry no namespace at all.
LangGraph parses the same string the same way (``pregel/_messages.py``). Where a typed v2 part gives
the namespace (``part["ns"]``) the adapters use that instead. tests/test_adapters.py has a canary.
"""
from __future__ import annotations

from typing import Any, Mapping

from .events import Namespace

SEPARATOR, TASK_MARK = "|", ":"  # LangGraph's NS_SEP and NS_END (private constants)


def _segments(checkpoint_ns: str | None) -> list[str]:
    return [p for p in (checkpoint_ns or "").split(SEPARATOR) if p]


def task_id_of(metadata: Mapping[str, Any]) -> str:
    """The task (node run) a message belongs to, from messages-mode metadata: ``'llm:<id>'`` → ``'<id>'``."""
    segments = _segments(metadata.get("langgraph_checkpoint_ns"))
    return segments[-1].partition(TASK_MARK)[2] if segments else ""


def graph_namespace(checkpoint_ns: str | None) -> Namespace:
    """'parent:<id>|child:<id>' → ('parent:<id>',): the graphs around the node, not the node itself."""
    return tuple(_segments(checkpoint_ns)[:-1])
