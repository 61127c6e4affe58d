"""A thread's checkpoints reduced to what a lesson shows: pure builders over LangGraph's CheckpointTuple."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import CheckpointTuple


@dataclass(frozen=True)
class CheckpointSummary:
    """One checkpoint of a thread, reduced to what a lesson shows on screen."""

    checkpoint_id: str
    parent_id: str | None
    step: int | None
    source: str | None
    writes: tuple[str, ...]  # nodes whose output produced this checkpoint (empty for input/update)
    message_count: int


def thread_config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def thread_ids(tuples: Iterable[CheckpointTuple]) -> list[str]:
    return sorted({t.config["configurable"]["thread_id"] for t in tuples})


def latest_messages(tup: CheckpointTuple) -> list[BaseMessage]:
    return list(tup.checkpoint["channel_values"].get("messages", []))


def history(tuples: list[CheckpointTuple]) -> list[CheckpointSummary]:
    """Summaries oldest first; the writers are the nodes whose versions_seen moved since the parent."""
    by_id = {t.config["configurable"]["checkpoint_id"]: t for t in tuples}
    out = []
    for cid in sorted(by_id):  # checkpoint ids are time-ordered uuid6
        tup = by_id[cid]
        parent_id = tup.parent_config["configurable"]["checkpoint_id"] if tup.parent_config else None
        meta = tup.metadata or {}
        if isinstance(meta.get("writes"), dict):  # older langgraph recorded this directly
            writes = tuple(sorted(meta["writes"]))
        else:
            parent = by_id.get(parent_id) if parent_id else None
            seen = tup.checkpoint.get("versions_seen", {})
            before = parent.checkpoint.get("versions_seen", {}) if parent else {}
            writes = tuple(sorted(n for n, v in seen.items() if v and v != before.get(n)))
        out.append(CheckpointSummary(cid, parent_id, meta.get("step"), meta.get("source"),
                                     writes, len(latest_messages(tup))))
    return out
