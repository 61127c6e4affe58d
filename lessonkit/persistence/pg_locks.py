"""Run locks across machines: one run per thread for every process on one Postgres database (issue 11).

``AdvisoryThreadLocks`` is the ``locks.ThreadLocks`` backend ``postgres_saver`` attaches to its savers.
A run's lock is a session-level Postgres advisory lock keyed on a 64-bit hash of the thread id, taken with
``pg_try_advisory_lock`` (never waits: ``lessonkit.persistence.runs`` decides whether to) on ONE connection this process
keeps for its locks. So two ``lessonkit serve`` instances, or a server and a notebook, on one database exclude
each other, and Postgres drops a dead process's locks with its session, even after SIGKILL.

Advisory locks are re-entrant within a session, so the in-process table (``held``) is what keeps two tasks or
threads of this process apart; every change goes through one mutex, so check, take and record are one step.
The session's ``application_name`` is "lessonkit pid N on HOST", which is how a refused run names the holder.

If the lock connection breaks (Postgres restarted), the server dropped its locks with it: the next try
reconnects and takes back the locks this process still holds (a run that lost its lock meanwhile keeps
going; the restart fails its database calls anyway). The async forms run the sync body in a worker thread, so
a slow or unreachable server never blocks the event loop, and a cancelled caller never leaks a lock.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
import weakref
from collections.abc import Callable

import psycopg

from lessonkit.support.exit_hooks import at_interpreter_exit
from lessonkit.persistence.locks import Holder, Owner

__all__ = ["AdvisoryThreadLocks", "advisory_key", "application_name", "key_parts"]

Connect = Callable[[str], psycopg.Connection]  # application_name → an autocommit connection (or a clear error)

_HOLDER_SQL = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s::bigint::oid
  AND l.objid = %s::bigint::oid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1"""


# ---------------------------------------------------------------- pure helpers

def advisory_key(thread_id: str) -> int:
    """The signed 64-bit advisory-lock key of a thread (a blake2b hash; two threads sharing one only take turns)."""
    digest = hashlib.blake2b(b"lessonkit-run\0" + thread_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def key_parts(key: int) -> tuple[int, int]:
    """How ``pg_locks`` shows a bigint advisory key: (classid, objid) = its high and low 32 bits, unsigned."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def application_name(pid: int | None = None, host: str | None = None) -> str:
    """What this process's lock session is called in pg_stat_activity (≤ 63 bytes, Postgres's limit)."""
    text = f"lessonkit pid {pid or os.getpid()} on {host or socket.gethostname()}"
    return text.encode()[:63].decode(errors="ignore")


# ---------------------------------------------------------------- the backend

_INSTANCES: weakref.WeakSet[AdvisoryThreadLocks] = weakref.WeakSet()


class AdvisoryThreadLocks:
    """Run locks of one Postgres database, shared by every process that uses it (see the module docstring)."""

    def __init__(self, name: str, connect: Connect) -> None:
        self.name = name
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        self._mutex = threading.Lock()
        self.held: dict[str, Owner] = {}
        _INSTANCES.add(self)

    # -- one body for sync and async ------------------------------------------------

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        with self._mutex:
            mine = self.held.get(thread_id)
            if mine is not None:
                return Holder(os.getpid(), mine)
            key = advisory_key(thread_id)
            row = self._query("SELECT pg_try_advisory_lock(%s)", (key,))
            if row and row[0]:
                self.held[thread_id] = owner
                return None
            holder = self._query(_HOLDER_SQL, key_parts(key))
            return Holder(None, where=f"another instance ({holder[0]})" if holder and holder[0] else None)

    def release(self, thread_id: str) -> None:
        with self._mutex:
            if self.held.pop(thread_id, None) is None:
                return
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                return  # the session is gone, and its locks with it
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(thread_id),))
            except psycopg.OperationalError:
                self._drop()

    async def atry_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        attempt = asyncio.ensure_future(asyncio.to_thread(self.try_acquire, thread_id, owner))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:  # the caller gave up: a lock taken meanwhile goes straight back
            attempt.add_done_callback(lambda done: self._give_back(done, thread_id))
            raise

    async def arelease(self, thread_id: str) -> None:
        releasing = asyncio.ensure_future(asyncio.to_thread(self.release, thread_id))
        await asyncio.shield(releasing)  # a cancelled caller still lets the release finish

    def close(self) -> None:
        """Close the lock session (Postgres frees every lock it holds)."""
        with self._mutex:
            self.held.clear()
            self._drop()

    # -- the connection -----------------------------------------------------------

    def _give_back(self, done: asyncio.Future[Holder | None], thread_id: str) -> None:
        if not done.cancelled() and done.exception() is None and done.result() is None:
            threading.Thread(target=self.release, args=(thread_id,), daemon=True).start()

    def _query(self, sql: str, params: tuple[int, ...]) -> tuple[object, ...] | None:
        """One statement on the lock session; reconnects once (taking back held locks) if the session broke."""
        for attempt in (1, 2):
            conn = self._session()
            try:
                return conn.execute(sql, params).fetchone()
            except psycopg.OperationalError:
                self._drop()
                if attempt == 2:
                    raise
        return None  # pragma: no cover - the loop returns or raises

    def _session(self) -> psycopg.Connection:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        conn = self._conn = self._connect(application_name())
        for thread_id in self.held:  # locks the old session took died with it: take them back
            conn.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(thread_id),))
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _close_all_at_exit() -> None:
    for instance in list(_INSTANCES):
        instance.close()


def _forget_after_fork() -> None:
    """A forked child shares its parent's socket: never close it there (that would end the parent's session)."""
    for instance in list(_INSTANCES):
        instance._conn = None
        instance._mutex = threading.Lock()
        instance.held.clear()


# Before the interpreter joins non-daemon threads, as lessonkit.postgres does for its pools.
at_interpreter_exit(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
