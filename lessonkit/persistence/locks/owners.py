"""Who takes a run lock, who holds one, and what a lock backend must do: the names every backend shares."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Owner:
    """Who takes a lock in this process: an OS thread, and the asyncio task running in it (if any)."""

    thread: int
    task: object | None = None


def current_owner() -> Owner:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running event loop in this thread
        task = None
    return Owner(threading.get_ident(), task)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock that was asked for: a pid (None when the platform cannot tell), and the owner when it is this process.

    ``where`` describes a holder on another machine (a Postgres session's "lessonkit pid 12 on host-b"), when known.
    """

    pid: int | None
    owner: Owner | None = None
    where: str | None = None


class ThreadLocks(Protocol):
    """Per-thread run locks of one checkpoint store. The try_ forms never wait: lessonkit.persistence.runs decides whether to.

    ``name`` names the store in messages and tells stores apart (two savers on one file share one ThreadLocks).
    """

    name: str

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        """Take the thread's lock and return None, or return who holds it."""

    def release(self, thread_id: str) -> None: ...

    async def atry_acquire(self, thread_id: str, owner: Owner) -> Holder | None: ...

    async def arelease(self, thread_id: str) -> None: ...


class NonBlocking:
    """Locks whose try and release never wait: the async forms are the sync ones."""

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        raise NotImplementedError

    def release(self, thread_id: str) -> None:
        raise NotImplementedError

    async def atry_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        return self.try_acquire(thread_id, owner)

    async def arelease(self, thread_id: str) -> None:
        self.release(thread_id)
