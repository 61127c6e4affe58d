"""The pure decisions of a run lock: which thread a run locks, and what a run does when it finds it taken.

No I/O here: the sync and async shells in ``lessonkit.persistence.runs.claims`` try the lock and sleep; these say what next.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from lessonkit.persistence import locks
from lessonkit.errors import ThreadBusyError, ThreadIdError

Multitask = Literal["reject", "enqueue"]
MAX_THREAD_ID_LENGTH = 256
ENQUEUE_TIMEOUT_S = 300.0  # how long multitask="enqueue" waits for a busy thread by default
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.005, 0.05  # between tries while waiting: short at first, then at most this
_SETTLE_S = 1.0  # how long an async run waits for its own task's abandoned stream to be closed by the loop


def validate_thread_id(value: object) -> str:
    """``value`` if it can name a conversation, else ThreadIdError saying what is allowed.

    LangGraph would store ``None`` as a thread literally named "None" and ``5`` as "5"; lessonkit wants
    a non-empty string of at most MAX_THREAD_ID_LENGTH characters with no control characters.
    """
    if isinstance(value, str):
        bad = next((i for i, ch in enumerate(value) if unicodedata.category(ch) in ("Cc", "Cs")), None)
        problem = ("thread_id is empty" if not value
                   else f"thread_id is {len(value)} characters long" if len(value) > MAX_THREAD_ID_LENGTH
                   else f"thread_id {value!r} has the control character {value[bad]!r} at position {bad}" if bad is not None
                   else None)
        if problem is None:
            return value
    elif value is None:
        problem = "thread_id is None (LangGraph would store a thread named 'None')"
    else:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        hint = f"; use the string {str(value)!r}" if isinstance(value, int) and not isinstance(value, bool) else ""
        problem = f"thread_id is {type(value).__name__} {shown}, not a string{hint}"
    raise ThreadIdError(
        f"{problem}. A thread_id is a non-empty string of at most {MAX_THREAD_ID_LENGTH} characters without "
        "control characters, e.g. {'configurable': {'thread_id': 'alice-1'}}.")


@dataclass(frozen=True)
class RunPolicy:
    """What a run does when another run holds its thread."""

    multitask: Multitask = "reject"
    timeout: float = ENQUEUE_TIMEOUT_S  # "enqueue" gives up (ThreadBusyError) after waiting this long

    def __post_init__(self) -> None:
        if self.multitask not in get_args(Multitask):
            raise ValueError(f"multitask must be 'reject' or 'enqueue', not {self.multitask!r}")
        if not self.timeout >= 0:
            raise ValueError(f"the multitask timeout must be 0 or more seconds, not {self.timeout!r}")


def policy(multitask: Multitask = "reject", timeout: float | None = None) -> RunPolicy:
    return RunPolicy(multitask, ENQUEUE_TIMEOUT_S if timeout is None else timeout)


def locked_thread(config: RunnableConfig, checkpointer: object) -> str | None:
    """The thread a run must lock, from its merged config; None when the run takes no lock.

    None: no saver; a subgraph run (non-empty ``checkpoint_ns``: its root run holds the lock); no
    ``thread_id`` at all (LangGraph's own error says it is missing).
    """
    if not isinstance(checkpointer, BaseCheckpointSaver):
        return None
    configurable = config.get("configurable") or {}
    if configurable.get("checkpoint_ns") or "thread_id" not in configurable:
        return None
    return validate_thread_id(configurable["thread_id"])


@dataclass(frozen=True)
class Ask:
    """One wish to take a thread, with everything the decision needs but who holds it."""

    thread_id: str
    store: str
    policy: RunPolicy
    me: locks.Owner
    blocking: bool  # a sync wait blocks its OS thread; an async one lets the event loop run


def would_deadlock(ask: Ask, holder: locks.Holder) -> bool:
    """Waiting could never end: the holder can only move on in the OS thread (sync) or the task (async) that would wait."""
    if holder.owner is None:
        return False
    if ask.blocking:
        return holder.owner.thread == ask.me.thread
    return holder.owner.task is not None and holder.owner.task is ask.me.task


def busy_error(ask: Ask, holder: locks.Holder, waited: float | None = None) -> ThreadBusyError:
    """The message for a busy thread: where the other run is, and what to do."""
    if holder.owner is not None:
        where = f"this process (pid {holder.pid})"
    elif holder.where:
        where = holder.where
    else:
        where = f"process {holder.pid}" if holder.pid else "another process"
    store = re.sub(r" at 0x[0-9a-f]+$", "", ask.store)  # no memory address or home folder in a notebook's output
    store = os.path.basename(store) if os.path.isabs(store) else store  # a file's name; a Postgres user@host/db as it is
    head = f"thread {ask.thread_id!r} of {store} is busy: another run on it is in progress in {where}."
    background = holder.owner is not None and holder.owner.task is not None and holder.owner.task is not ask.me.task
    if background and would_deadlock(ask, holder):
        tail = ("It runs in the background (an asyncio task, e.g. dash.start(...)) and needs this kernel's event loop, "
                "which a sync call here would block forever: wait for it first (await dash.task, or press Stop), "
                "use await graph.ainvoke(...), or use another thread_id.")
    elif would_deadlock(ask, holder):
        tail = ("That run was started here and has not finished: iterate its stream to the end (or close it) "
                "before starting another run or update_state on this thread; waiting for it here would never end.")
    elif waited is not None:
        tail = (f"Waited {waited:.1f} s for it (multitask='enqueue', timeout={ask.policy.timeout:g} s). "
                "Try again later, allow a longer timeout, or use another thread_id.")
    else:
        tail = ("Two runs at once on one thread would fork the conversation and lose a turn. Wait for that run to "
                "finish and try again, or use another thread_id; multitask='enqueue' waits for its turn instead.")
    return ThreadBusyError(f"{head} {tail}", ask.thread_id, holder.pid)


def _settling(ask: Ask, holder: locks.Holder, waited: float) -> bool:
    """The holder may be this task's own async stream, left by ``break``: the event loop closes it in a moment."""
    return not ask.blocking and holder.owner is not None and holder.owner.task is ask.me.task and waited < _SETTLE_S


def pause_after(ask: Ask, holder: locks.Holder | None, waited: float) -> float | None:
    """After one try: None when the lock is ours, else how long to pause before the next; or ThreadBusyError."""
    if holder is None:
        return None
    if not _settling(ask, holder, waited):
        if would_deadlock(ask, holder) or ask.policy.multitask == "reject":
            raise busy_error(ask, holder)
        if waited >= ask.policy.timeout:
            raise busy_error(ask, holder, waited)
    return min(_LONGEST_PAUSE_S, max(_FIRST_PAUSE_S, waited / 4), max(ask.policy.timeout - waited, _FIRST_PAUSE_S))

