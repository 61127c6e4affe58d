"""One run at a time per thread, so turns sent to one thread at once never fork it and silently drop a turn.

Two runs on one thread at the same time both start from the same checkpoint; whichever saves last
wins, and the other turn's question and answer vanish from the thread without an error. So each
thread gets a run lock (``lessonkit.persistence.locks``: across processes on one SQLite file, and across threads
and asyncio tasks of one process), and a policy for a run that finds it taken:

- ``multitask="reject"`` (the default): ThreadBusyError at once, naming the thread and the holder's pid;
- ``multitask="enqueue"``: wait for the other run to end (``timeout`` seconds at most, then ThreadBusyError).

``guard(graph)`` makes a compiled graph take the lock around every run (``invoke``, ``stream``,
``ainvoke``, ``astream``, ``astream_events``, ``batch``: all of them go through ``stream``/``astream``)
and every ``update_state``. Only a thread's root run takes it: a subgraph run (its config carries a
non-empty ``checkpoint_ns``) is part of its parent's, and code running inside a run (its nodes, the
tasks they start) re-enters the lock instead of waiting for itself. ``thread_run``/``athread_run``
hold the same lock around any block, for servers. Runs on different threads never wait for each other.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lessonkit.support.lazy import lazy_exports

if TYPE_CHECKING:
    from lessonkit.persistence.runs.claims import athread_run, thread_run
    from lessonkit.persistence.runs.decisions import (
        ENQUEUE_TIMEOUT_S, MAX_THREAD_ID_LENGTH, Multitask, RunPolicy, busy_error, locked_thread, pause_after, policy,
        validate_thread_id,
    )
    from lessonkit.persistence.runs.guarded import GuardedGraph, guard

# Imported on first use: the decisions (constants, thread-id rules) need no LangGraph graph; the guarded graph
# imports langgraph.graph (~0.8 s), which the serve command's settings and the CLI do not need.
_EXPORTS = {
    "athread_run": ".claims", "thread_run": ".claims",
    **dict.fromkeys((
        "ENQUEUE_TIMEOUT_S", "MAX_THREAD_ID_LENGTH", "Multitask", "RunPolicy", "busy_error", "locked_thread",
        "pause_after", "policy", "validate_thread_id",
    ), ".decisions"),
    "GuardedGraph": ".guarded", "guard": ".guarded",
}
__all__ = [
    "ENQUEUE_TIMEOUT_S", "MAX_THREAD_ID_LENGTH", "GuardedGraph", "Multitask", "RunPolicy", "athread_run", "busy_error",
    "guard", "locked_thread", "pause_after", "policy", "thread_run", "validate_thread_id",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
