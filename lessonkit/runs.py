"""One run at a time per thread, so turns sent to one thread at once never fork it and silently drop a turn.

Two runs on one thread at the same time both start from the same checkpoint; whichever saves last
wins, and the other turn's question and answer vanish from the thread without an error. So each
thread gets a run lock (``lessonkit.locks``: across processes on one SQLite file, and across threads
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

import asyncio
import contextlib
import contextvars
import os
import re
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from lessonkit import locks
from lessonkit.errors import ThreadBusyError, ThreadIdError
from lessonkit.postgres import unavailable_error

try:
    # The merge LangGraph's own runs apply to a config (the graph's bound config, the ambient one of an
    # enclosing run, the caller's), so the guard sees exactly the thread and namespace the run will use.
    # Private: tests/test_runs.py::test_private_langgraph_apis_the_guard_relies_on fails loudly if it moves.
    from langgraph._internal._config import ensure_config as _run_config
except ImportError:  # pragma: no cover - the public near-equivalent keeps lessonkit working meanwhile
    from langchain_core.runnables.config import ensure_config, merge_configs

    def _run_config(*configs: RunnableConfig | None) -> RunnableConfig:
        return ensure_config(merge_configs(*configs))

Multitask = Literal["reject", "enqueue"]
MAX_THREAD_ID_LENGTH = 256
ENQUEUE_TIMEOUT_S = 300.0  # how long multitask="enqueue" waits for a busy thread by default
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.005, 0.05  # between tries while waiting: short at first, then at most this
_SETTLE_S = 1.0  # how long an async run waits for its own task's abandoned stream to be closed by the loop


# ---------------------------------------------------------------- pure decisions

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
class _Ask:
    """One wish to take a thread, with everything the decision needs but who holds it."""

    thread_id: str
    store: str
    policy: RunPolicy
    me: locks.Owner
    blocking: bool  # a sync wait blocks its OS thread; an async one lets the event loop run


def _would_deadlock(ask: _Ask, holder: locks.Holder) -> bool:
    """Waiting could never end: the holder can only move on in the OS thread (sync) or the task (async) that would wait."""
    if holder.owner is None:
        return False
    if ask.blocking:
        return holder.owner.thread == ask.me.thread
    return holder.owner.task is not None and holder.owner.task is ask.me.task


def busy_error(ask: _Ask, holder: locks.Holder, waited: float | None = None) -> ThreadBusyError:
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
    if background and _would_deadlock(ask, holder):
        tail = ("It runs in the background (an asyncio task, e.g. dash.start(...)) and needs this kernel's event loop, "
                "which a sync call here would block forever: wait for it first (await dash.task, or press Stop), "
                "use await graph.ainvoke(...), or use another thread_id.")
    elif _would_deadlock(ask, holder):
        tail = ("That run was started here and has not finished: iterate its stream to the end (or close it) "
                "before starting another run or update_state on this thread; waiting for it here would never end.")
    elif waited is not None:
        tail = (f"Waited {waited:.1f} s for it (multitask='enqueue', timeout={ask.policy.timeout:g} s). "
                "Try again later, allow a longer timeout, or use another thread_id.")
    else:
        tail = ("Two runs at once on one thread would fork the conversation and lose a turn. Wait for that run to "
                "finish and try again, or use another thread_id; multitask='enqueue' waits for its turn instead.")
    return ThreadBusyError(f"{head} {tail}", ask.thread_id, holder.pid)


def _settling(ask: _Ask, holder: locks.Holder, waited: float) -> bool:
    """The holder may be this task's own async stream, left by ``break``: the event loop closes it in a moment."""
    return not ask.blocking and holder.owner is not None and holder.owner.task is ask.me.task and waited < _SETTLE_S


def pause_after(ask: _Ask, holder: locks.Holder | None, waited: float) -> float | None:
    """After one try: None when the lock is ours, else how long to pause before the next; or ThreadBusyError."""
    if holder is None:
        return None
    if not _settling(ask, holder, waited):
        if _would_deadlock(ask, holder) or ask.policy.multitask == "reject":
            raise busy_error(ask, holder)
        if waited >= ask.policy.timeout:
            raise busy_error(ask, holder, waited)
    return min(_LONGEST_PAUSE_S, max(_FIRST_PAUSE_S, waited / 4), max(ask.policy.timeout - waited, _FIRST_PAUSE_S))


# ---------------------------------------------------------------- claims: the sync and async shells

_HELD: contextvars.ContextVar[frozenset[tuple[str, str]]] = contextvars.ContextVar("lessonkit_held_threads", default=frozenset())
_END = object()


@dataclass(frozen=True)
class _Claim:
    """A thread this code may run on: taken here (``taken`` set: release it there), held by an enclosing run, or no lock at all."""

    key: tuple[str, str] | None = None  # (store, thread_id)
    taken: locks.ThreadLocks | None = None  # set when this claim took the lock: release it there

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Code run here is the run's own: a run it starts on the same thread re-enters instead of waiting."""
        if self.key is None:
            yield
            return
        token = _HELD.set(_HELD.get() | {self.key})
        try:
            yield
        finally:
            _HELD.reset(token)

    def step(self, chunks: Iterator[Any]) -> Any:
        """The run's next chunk (or _END), computed inside the run."""
        with self.inside():
            return next(chunks, _END)

    async def astep(self, chunks: AsyncIterator[Any]) -> Any:
        with self.inside():
            return await anext(chunks, _END)


_UNLOCKED = _Claim()


def _ask(thread_locks: locks.ThreadLocks, thread_id: str, run_policy: RunPolicy, *, blocking: bool) -> tuple[_Ask | None, _Claim]:
    """What both shells do first: nothing to take when an enclosing run holds the thread already."""
    key = (thread_locks.name, thread_id)
    if key in _HELD.get():
        return None, _Claim(key)
    return _Ask(thread_id, thread_locks.name, run_policy, locks.current_owner(), blocking), _Claim(key, thread_locks)


def _claim(saver: Any, thread_id: str | None, run_policy: RunPolicy) -> _Claim:
    if thread_id is None:
        return _UNLOCKED
    thread_locks = locks.thread_locks_for(saver)
    ask, claim = _ask(thread_locks, thread_id, run_policy, blocking=True)
    if ask is not None:
        started = time.monotonic()
        while (pause := pause_after(ask, thread_locks.try_acquire(thread_id, ask.me), time.monotonic() - started)) is not None:
            time.sleep(pause)
    return claim


async def _aclaim(saver: Any, thread_id: str | None, run_policy: RunPolicy) -> _Claim:
    if thread_id is None:
        return _UNLOCKED
    thread_locks = await locks.athread_locks_for(saver)
    ask, claim = _ask(thread_locks, thread_id, run_policy, blocking=False)
    if ask is not None:
        started = time.monotonic()
        while (pause := pause_after(ask, await thread_locks.atry_acquire(thread_id, ask.me), time.monotonic() - started)) is not None:
            await asyncio.sleep(pause)
    return claim


def _release(claim: _Claim) -> None:
    if claim.taken is not None and claim.key is not None:
        claim.taken.release(claim.key[1])


async def _arelease(claim: _Claim) -> None:
    if claim.taken is not None and claim.key is not None:
        await claim.taken.arelease(claim.key[1])


@contextlib.contextmanager
def _holding(claim: _Claim) -> Iterator[None]:
    try:
        with claim.inside():
            yield
    finally:
        _release(claim)


@contextlib.asynccontextmanager
async def _aholding(claim: _Claim) -> AsyncIterator[None]:
    try:
        with claim.inside():
            yield
    finally:
        await _arelease(claim)


@contextlib.contextmanager
def thread_run(saver: Any, thread_id: object, *, multitask: Multitask = "reject", timeout: float | None = None) -> Iterator[None]:
    """Hold ``thread_id``'s run lock on ``saver`` for the block (a server's run, say); ThreadBusyError if it is taken.

    Guarded graphs run inside the block re-enter the lock instead of waiting for it.
    """
    run_policy = policy(multitask, timeout)
    with _holding(_claim(saver, validate_thread_id(thread_id), run_policy)):
        yield


@contextlib.asynccontextmanager
async def athread_run(saver: Any, thread_id: object, *, multitask: Multitask = "reject", timeout: float | None = None) -> AsyncIterator[None]:
    """thread_run() for async code: an "enqueue" wait lets the event loop run."""
    run_policy = policy(multitask, timeout)
    async with _aholding(await _aclaim(saver, validate_thread_id(thread_id), run_policy)):
        yield


# ---------------------------------------------------------------- the guarded graph

@contextlib.contextmanager
def _database_errors(saver: Any) -> Iterator[None]:
    """A run whose database went away mid-run raises DatabaseUnavailableError saying what was kept, not psycopg's text."""
    try:
        yield
    except Exception as error:
        better = unavailable_error(saver, error)
        if better is None:
            raise
        raise better from None


class GuardedGraph(CompiledStateGraph):
    """A compiled graph whose runs and state updates take their thread's run lock (see the module docstring)."""

    lessonkit_runs: RunPolicy

    def __init__(self, *, lessonkit_runs: RunPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # copy()/with_config() build the copy through here
        self.lessonkit_runs = lessonkit_runs or RunPolicy()

    def _thread(self, config: RunnableConfig | None) -> str | None:
        return locked_thread(_run_config(self.config, config), self.checkpointer)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:  # type: ignore[override]
        claim = _claim(self.checkpointer, self._thread(config), self.lessonkit_runs)
        try:  # only the run's own steps are inside it: the caller's code between chunks is not
            with _database_errors(self.checkpointer), contextlib.closing(super().stream(input, config, **kwargs)) as chunks:
                while (chunk := claim.step(chunks)) is not _END:
                    yield chunk
        finally:
            _release(claim)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        claim = await _aclaim(self.checkpointer, self._thread(config), self.lessonkit_runs)
        try:
            with _database_errors(self.checkpointer):
                async with contextlib.aclosing(super().astream(input, config, **kwargs)) as chunks:
                    while (chunk := await claim.astep(chunks)) is not _END:
                        yield chunk
        finally:
            await _arelease(claim)

    def bulk_update_state(self, config: RunnableConfig, supersteps: Any) -> RunnableConfig:  # update_state comes here
        with _holding(_claim(self.checkpointer, self._thread(config), self.lessonkit_runs)):
            return super().bulk_update_state(config, supersteps)

    async def abulk_update_state(self, config: RunnableConfig, supersteps: Any) -> RunnableConfig:  # and aupdate_state here
        async with _aholding(await _aclaim(self.checkpointer, self._thread(config), self.lessonkit_runs)):
            return await super().abulk_update_state(config, supersteps)


def guard(graph: CompiledStateGraph, *, multitask: Multitask = "reject", timeout: float | None = None) -> GuardedGraph:
    """Make what ``StateGraph.compile()`` returned take its thread's run lock around every run and update_state.

    compile() always builds a plain CompiledStateGraph, so the object's class is swapped for the
    subclass: same object, nothing copied (tests/test_runs.py fails loudly if compile() changes).
    """
    if type(graph) is not CompiledStateGraph and not isinstance(graph, GuardedGraph):
        raise TypeError(f"guard() takes what StateGraph.compile() returns, a CompiledStateGraph, not {type(graph).__name__}")
    graph.__class__ = GuardedGraph
    graph.lessonkit_runs = policy(multitask, timeout)
    return graph
