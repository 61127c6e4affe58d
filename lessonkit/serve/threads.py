"""The thread API's work, apart from HTTP: read a thread's messages and state, clear it, fork it.

Each function takes the graph and a ThreadKey and returns plain JSON-ready data, so routes stay a
line each and lesson 06 can show the same shapes. Everything returned is redacted (a tool result or a
stored error may quote a key). Writes go through the guarded graph, so they wait for nothing and fail
with ThreadBusyError (409) while a run holds the thread, never forking it.
"""
from __future__ import annotations

from typing import Any, Iterable

from langchain_core.messages import BaseMessage, RemoveMessage
from langgraph.constants import START
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from lessonkit import checkpoints
from lessonkit.errors import ThreadNotFoundError

from .events import jsonable
from .identity import ThreadKey, public_thread_id


class CheckpointNotFoundError(LookupError):
    """A fork from a checkpoint id the thread does not have."""


def message_json(message: BaseMessage, time: str | None = None) -> dict[str, Any]:
    """A stored message as the API shows it: type, content, time it was first saved, and tool details."""
    out: dict[str, Any] = {"id": message.id, "type": message.type, "content": message.content, "time": time}
    if getattr(message, "tool_calls", None):
        out["tool_calls"] = [{"id": c.get("id"), "name": c["name"], "args": c.get("args", {})} for c in message.tool_calls]
    if message.type == "tool":
        out.update(name=getattr(message, "name", None), tool_call_id=getattr(message, "tool_call_id", None),
                   status=getattr(message, "status", "success"))
    return out


def first_seen(snapshots_newest_first: Iterable[Any]) -> dict[str, str]:
    """Message id → ``created_at`` of the oldest checkpoint holding it: when the message was saved."""
    seen: dict[str, str] = {}
    for snapshot in snapshots_newest_first:  # newest first: older checkpoints overwrite, so the oldest wins
        for message in (snapshot.values or {}).get("messages", []) if isinstance(snapshot.values, dict) else []:
            if message.id and snapshot.created_at:
                seen[message.id] = snapshot.created_at
    return seen


async def _snapshot(graph: Any, key: ThreadKey) -> Any:
    snapshot = await graph.aget_state(key.config())
    if not snapshot.config.get("configurable", {}).get("checkpoint_id"):
        raise ThreadNotFoundError(key.thread_id, [])
    return snapshot


async def list_threads(checkpointer: Any, user: str) -> list[str]:
    """The caller's public thread ids, sorted; other users' threads are never listed."""
    stored = await checkpoints.alist_threads(checkpointer)
    return sorted(t for t in (public_thread_id(user, s) for s in stored) if t is not None)


async def history(graph: Any, key: ThreadKey) -> dict[str, Any]:
    """The thread's messages, oldest first, each with the time it was first checkpointed."""
    snapshot = await _snapshot(graph, key)
    times = first_seen([s async for s in graph.aget_state_history(key.config())])
    messages = [message_json(m, times.get(m.id or "")) for m in snapshot.values.get("messages", [])]
    return jsonable({"thread_id": key.thread_id, "messages": messages, "total_messages": len(messages)})


async def state(graph: Any, key: ThreadKey) -> dict[str, Any]:
    """The latest checkpoint: values (messages as in history), what runs next, pending interrupts."""
    snapshot = await _snapshot(graph, key)
    values = {k: ([message_json(m) for m in v] if k == "messages" else v) for k, v in (snapshot.values or {}).items()}
    parent = (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return jsonable({
        "thread_id": key.thread_id, "checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
        "parent_checkpoint_id": parent, "created_at": snapshot.created_at, "next": list(snapshot.next),
        "values": values, "interrupts": [{"id": i.id, "value": i.value} for i in snapshot.interrupts],
        "step": (snapshot.metadata or {}).get("step"),
    })


async def pending_interrupts(graph: Any, key: ThreadKey) -> list[Any]:
    """The interrupts a ``resume`` would answer (empty: nothing to resume)."""
    snapshot = await _snapshot(graph, key)
    return list(snapshot.interrupts)


async def clear(graph: Any, key: ThreadKey) -> dict[str, Any]:
    """Remove every message with RemoveMessage, keeping the thread and its history (time travel still works).

    Written as if START had run, so the update needs no node's routing (the lesson agent's edges read
    the last message, which no longer exists); the next turn starts at the entry node as usual.
    """
    await _snapshot(graph, key)
    await graph.aupdate_state(key.config(), {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)]}, as_node=START)
    return await history(graph, key)


async def fork(graph: Any, key: ThreadKey, checkpoint_id: str) -> dict[str, Any]:
    """Time travel: a new latest checkpoint with the values of ``checkpoint_id``; the next turn continues from it."""
    await _snapshot(graph, key)
    target = {"configurable": {**key.config()["configurable"], "checkpoint_ns": "", "checkpoint_id": checkpoint_id}}
    old = await graph.aget_state(target)
    if old.config.get("configurable", {}).get("checkpoint_id") != checkpoint_id or not old.created_at:
        raise CheckpointNotFoundError(checkpoint_id)
    await graph.aupdate_state(target, None)
    new = await state(graph, key)
    return {**new, "forked_from": checkpoint_id}


async def delete(checkpointer: Any, key: ThreadKey) -> None:
    """Forget the thread; ThreadNotFoundError (404) if the caller has no such thread, ThreadBusyError (409) mid-run."""
    try:
        await checkpoints.adelete_thread(checkpointer, key.stored)
    except ThreadNotFoundError:
        raise ThreadNotFoundError(key.thread_id, []) from None
