"""Which run locks a saver uses: its database file's (found from the saver's connection), or a table of its own.

``thread_locks_for`` and ``athread_locks_for`` share every decision (``_known_or_sync``, ``_asks_its_loop``,
``_settle``); they differ only in how they ask an AsyncSqliteSaver's connection for its file.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import weakref
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from lessonkit.persistence.locks.database_lock import DatabaseHold, hold
from lessonkit.persistence.locks.flock import main_database_file
from lessonkit.persistence.locks.lock_files import fcntl, locked
from lessonkit.persistence.locks.owners import ThreadLocks
from lessonkit.persistence.locks.thread_locks import FileThreadLocks, MemoryThreadLocks

_PATHS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # saver → its database file
_HOLDS: weakref.WeakKeyDictionary[Any, DatabaseHold] = weakref.WeakKeyDictionary()
_SAVER_LOCKS: weakref.WeakKeyDictionary[Any, ThreadLocks] = weakref.WeakKeyDictionary()
_DATABASE_LOCKS: dict[str, ThreadLocks] = {}  # one per file, shared by all its savers in this process


def register_saver_path(saver: Any, database: str | os.PathLike[str]) -> None:
    """Say which file a saver writes, and hold the database open (byte 0 shared) while the saver lives.

    lessonkit's saver helpers call it as soon as the saver exists, so a ``fresh=True`` in another process
    refuses from then on. Otherwise a (Async)SqliteSaver's file is found from its connection at its first run.
    """
    name = os.fsdecode(database)
    if name in ("", ":memory:"):
        return
    with locked():
        if saver in _HOLDS:
            return
        _PATHS[saver] = os.path.realpath(name)
        taken = _HOLDS[saver] = hold(name)
    weakref.finalize(saver, taken.release_later)


def savers_of(database: str | os.PathLike[str]) -> list[Any]:
    """This process's registered savers on a database file (fresh=True closes them: they are being replaced)."""
    name = os.path.realpath(os.fsdecode(database))
    with locked():
        return [saver for saver, path in list(_PATHS.items()) if path == name and saver in _HOLDS]


def release_saver(saver: Any) -> None:
    """The saver is closed: this process no longer has its database open on its account."""
    with locked():
        taken = _HOLDS.pop(saver, None)
    if taken is not None:
        taken.release()


def use_thread_locks(saver: Any, locks: ThreadLocks) -> None:
    """Give a saver another lock backend (the extension point: Postgres advisory locks across machines, say)."""
    with locked():
        _SAVER_LOCKS[saver] = locks


def database_locks(database: str | os.PathLike[str]) -> ThreadLocks:
    """The run locks of one database file (in-process only where fcntl is missing)."""
    real = os.path.realpath(os.fsdecode(database))
    with locked():
        locks = _DATABASE_LOCKS.get(real)
        if locks is None:
            locks = _DATABASE_LOCKS[real] = FileThreadLocks(real) if fcntl is not None else MemoryThreadLocks(real)
        return locks


# ---------------------------------------------------------------- a saver's file, from its connection

def _sqlite_file(saver: SqliteSaver) -> str | None:
    try:
        with saver.lock:  # the saver's own lock: its connection is shared between threads
            return main_database_file(saver.conn.execute("PRAGMA database_list").fetchall())
    except sqlite3.Error:  # closed: the run will say so itself
        return None


async def _asqlite_file(saver: AsyncSqliteSaver) -> str | None:
    try:
        async with saver.lock, saver.conn.execute("PRAGMA database_list") as cursor:
            return main_database_file(await cursor.fetchall())
    except (sqlite3.Error, ValueError, RuntimeError):  # closed, or another event loop's saver
        return None


_UNKNOWN = "?"


def _asqlite_file_from_another_thread(saver: AsyncSqliteSaver) -> str | None:
    """Ask an AsyncSqliteSaver for its file the way its own sync methods work: on its loop, from this thread.

    _UNKNOWN on the loop's own thread (LangGraph refuses sync calls there itself) or when the loop is gone.
    """
    try:
        on_its_loop = asyncio.get_running_loop() is saver.loop
    except RuntimeError:
        on_its_loop = False
    if on_its_loop or not saver.loop.is_running():
        return _UNKNOWN
    return asyncio.run_coroutine_threadsafe(_asqlite_file(saver), saver.loop).result(timeout=30)


# ---------------------------------------------------------------- the decision, shared by both shells

def _own_table(saver: Any) -> MemoryThreadLocks:
    return MemoryThreadLocks(f"{type(saver).__name__} at {id(saver):#x}")


def _known_or_sync(saver: Any) -> tuple[ThreadLocks | None, str | None]:
    """What is known of a saver already, or what a sync saver's connection says of its file."""
    with locked():
        locks, database = _SAVER_LOCKS.get(saver), _PATHS.get(saver)
    if locks is None and database is None and isinstance(saver, SqliteSaver):
        database = _sqlite_file(saver)
    return locks, database


def _asks_its_loop(saver: Any, database: str | None) -> bool:
    """Only an AsyncSqliteSaver's own connection (on its event loop) can say which file it writes."""
    return database is None and isinstance(saver, AsyncSqliteSaver)


def _settle(saver: Any, database: str | None) -> ThreadLocks:
    """The saver's locks once its file is known: that file's, else a table of its own (remembered, unless unknown)."""
    if database == _UNKNOWN:  # the run fails in LangGraph anyway; remember nothing
        return _own_table(saver)
    if database:
        register_saver_path(saver, database)
    locks = database_locks(database) if database else _own_table(saver)
    with locked():
        return _SAVER_LOCKS.setdefault(saver, locks)


def thread_locks_for(saver: Any) -> ThreadLocks:
    """The run locks a saver's threads use: its file's, else the saver's own in-process table."""
    locks, database = _known_or_sync(saver)
    if locks is None and _asks_its_loop(saver, database):
        database = _asqlite_file_from_another_thread(saver)
    return locks if locks is not None else _settle(saver, database)


async def athread_locks_for(saver: Any) -> ThreadLocks:
    """thread_locks_for(), which can also ask an AsyncSqliteSaver's connection for its file."""
    locks, database = _known_or_sync(saver)
    if locks is None and _asks_its_loop(saver, database):
        database = await _asqlite_file(saver)
    return locks if locks is not None else _settle(saver, database)


def _forget_after_fork() -> None:
    """A forked child holds none of its parent's POSIX locks: it has no database open on its savers' account."""
    _HOLDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
