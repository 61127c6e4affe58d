"""Claims on a thread's run lock: the sync and async shells that try the lock, sleep, and release it.

Every decision is in ``lessonkit.persistence.runs.decisions`` (``pause_after``); a shell only tries and sleeps, blocking its
OS thread (sync) or letting the event loop run (async). A claim taken inside an enclosing run's own code
re-enters instead of waiting for itself (``_HELD``).
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from lessonkit.persistence import locks
from lessonkit.persistence.runs.decisions import Ask, Multitask, RunPolicy, pause_after, policy, validate_thread_id

_HELD: contextvars.ContextVar[frozenset[tuple[str, str]]] = contextvars.ContextVar("lessonkit_held_threads", default=frozenset())
END = object()


@dataclass(frozen=True)
class Claim:
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
        """The run's next chunk (or END), computed inside the run."""
        with self.inside():
            return next(chunks, END)

    async def astep(self, chunks: AsyncIterator[Any]) -> Any:
        with self.inside():
            return await anext(chunks, END)


_UNLOCKED = Claim()


@dataclass(frozen=True)
class _Tries:
    """One claim's tries at its thread: what ``pause_after`` says after each, on one clock (both shells use it)."""

    ask: Ask
    started: float = field(default_factory=time.monotonic)

    def pause(self, holder: locks.Holder | None) -> float | None:
        return pause_after(self.ask, holder, time.monotonic() - self.started)


def _start(thread_locks: locks.ThreadLocks, thread_id: str, run_policy: RunPolicy, *, blocking: bool) -> tuple[_Tries | None, Claim]:
    """What both shells do first: nothing to take when an enclosing run holds the thread already."""
    key = (thread_locks.name, thread_id)
    if key in _HELD.get():
        return None, Claim(key)
    return _Tries(Ask(thread_id, thread_locks.name, run_policy, locks.current_owner(), blocking)), Claim(key, thread_locks)


def claim_thread(saver: Any, thread_id: str | None, run_policy: RunPolicy) -> Claim:
    """The sync shell: try, and sleep (blocking this OS thread) for as long as ``pause_after`` says."""
    if thread_id is None:
        return _UNLOCKED
    thread_locks = locks.thread_locks_for(saver)
    tries, claim = _start(thread_locks, thread_id, run_policy, blocking=True)
    while tries is not None and (pause := tries.pause(thread_locks.try_acquire(thread_id, tries.ask.me))) is not None:
        time.sleep(pause)
    return claim


async def aclaim_thread(saver: Any, thread_id: str | None, run_policy: RunPolicy) -> Claim:
    """The async shell: try, and sleep (letting the event loop run) for as long as ``pause_after`` says."""
    if thread_id is None:
        return _UNLOCKED
    thread_locks = await locks.athread_locks_for(saver)
    tries, claim = _start(thread_locks, thread_id, run_policy, blocking=False)
    while tries is not None and (pause := tries.pause(await thread_locks.atry_acquire(thread_id, tries.ask.me))) is not None:
        await asyncio.sleep(pause)
    return claim


def release_claim(claim: Claim) -> None:
    if claim.taken is not None and claim.key is not None:
        claim.taken.release(claim.key[1])


async def arelease_claim(claim: Claim) -> None:
    if claim.taken is not None and claim.key is not None:
        await claim.taken.arelease(claim.key[1])


@contextlib.contextmanager
def holding(claim: Claim) -> Iterator[None]:
    try:
        with claim.inside():
            yield
    finally:
        release_claim(claim)


@contextlib.asynccontextmanager
async def aholding(claim: Claim) -> AsyncIterator[None]:
    try:
        with claim.inside():
            yield
    finally:
        await arelease_claim(claim)


@contextlib.contextmanager
def thread_run(saver: Any, thread_id: object, *, multitask: Multitask = "reject", timeout: float | None = None) -> Iterator[None]:
    """Hold ``thread_id``'s run lock on ``saver`` for the block (a server's run, say); ThreadBusyError if it is taken.

    Guarded graphs run inside the block re-enter the lock instead of waiting for it.
    """
    run_policy = policy(multitask, timeout)
    with holding(claim_thread(saver, validate_thread_id(thread_id), run_policy)):
        yield


@contextlib.asynccontextmanager
async def athread_run(saver: Any, thread_id: object, *, multitask: Multitask = "reject", timeout: float | None = None) -> AsyncIterator[None]:
    """thread_run() for async code: an "enqueue" wait lets the event loop run."""
    run_policy = policy(multitask, timeout)
    async with aholding(await aclaim_thread(saver, validate_thread_id(thread_id), run_policy)):
        yield

