"""Ready SQLite and in-memory savers (no context-manager trap), and closing them; async ones are closed at exit.

``sqlite_saver`` and ``async_sqlite_saver`` share every decision (``_retry_pause``, ``_journal_pragma``); they
differ only in the connection they open and how they wait.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import time
import weakref

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from lessonkit.persistence import locks
from lessonkit import postgres as _pg
from lessonkit.persistence.database_files import checked_path, database_path, open_error
from lessonkit.support.exit_hooks import at_interpreter_exit

_BUSY_TIMEOUT_S = 30  # wait this long for another process's write lock instead of failing


def memory_saver() -> InMemorySaver:
    """A throwaway saver: threads live as long as this Python process."""
    return InMemorySaver()


_OPEN_TRIES, _OPEN_PAUSE_S = 50, 0.1


def _open_again(exc: sqlite3.Error, attempt: int) -> bool:
    """Whether to try opening again: two processes switching one new file to WAL at the same moment get
    'database is locked' at once (SQLite does not wait on its busy timeout there); a moment later it works."""
    return "locked" in str(exc) and attempt + 1 < _OPEN_TRIES


def _retry_pause(path: str, exc: sqlite3.Error, attempt: int) -> float:
    """After a failed open: how long to pause before trying again, or the CheckpointPathError naming the path."""
    if not _open_again(exc, attempt):
        raise open_error(path, exc) from exc
    return _OPEN_PAUSE_S


def _journal_pragma(path: str) -> str | None:
    """WAL for a file (readers don't block the writer, two processes can share a file); nothing for :memory:."""
    return "PRAGMA journal_mode=WAL" if path != ":memory:" else None


def sqlite_saver(path: str | os.PathLike[str], *, fresh: bool = False) -> SqliteSaver:
    """A file-backed saver whose threads survive kernel restarts; ready to pass to compile().

    ``fresh=True`` deletes the file first, so a lesson's outputs are the same on every run. Re-running
    that cell in the same kernel closes the earlier saver on the file (it is being replaced); an async
    one, or any other connection, makes it refuse with DatabaseInUseError instead of wiping under it.
    """
    if fresh:
        for old in locks.savers_of(database_path(path)):
            if isinstance(old, SqliteSaver):
                close_sync_saver(old)
    p = checked_path(path, fresh=fresh)
    for attempt in itertools.count():
        conn = None
        try:
            conn = sqlite3.connect(p, check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
            if pragma := _journal_pragma(p):
                conn.execute(pragma)
            saver = SqliteSaver(conn)
            saver.setup()
            break
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            time.sleep(_retry_pause(p, exc, attempt))
    locks.register_saver_path(saver, p)  # runs on its threads take turns across processes; fresh=True elsewhere waits
    return saver


_OPEN_ASYNC: weakref.WeakSet[aiosqlite.Connection] = weakref.WeakSet()


def _close_leftover_connections() -> None:
    """Close async connections nobody closed; each one's non-daemon worker thread would block exit."""
    conns = list(_OPEN_ASYNC)
    _OPEN_ASYNC.clear()
    if not conns:
        return

    async def close_all() -> list[aiosqlite.Connection]:
        # aiosqlite makes its futures on the *current* loop, so a fresh loop can close them.
        done = await asyncio.gather(*(asyncio.wait_for(c.close(), 5) for c in conns),
                                    return_exceptions=True)
        return [c for c, result in zip(conns, done) if isinstance(result, BaseException)]

    leftovers = conns
    try:
        asyncio.get_running_loop()  # a loop still running in this thread: cannot start another
    except RuntimeError:
        with contextlib.suppress(Exception):
            leftovers = asyncio.run(close_all())
    for conn in leftovers:  # last resort: stop the worker thread without a clean close
        with contextlib.suppress(Exception):
            conn.stop()


# Before the interpreter joins non-daemon threads (aiosqlite's workers): atexit would be too late.
at_interpreter_exit(_close_leftover_connections)


async def async_sqlite_saver(path: str | os.PathLike[str], *, fresh: bool = False) -> AsyncSqliteSaver:
    """The async twin of sqlite_saver() for ainvoke/astream; closed for you at exit."""
    if fresh:
        for old in locks.savers_of(database_path(path)):
            await close_saver(old)
    p = checked_path(path, fresh=fresh)
    for attempt in itertools.count():
        conn = None
        try:
            conn = await aiosqlite.connect(p, timeout=_BUSY_TIMEOUT_S)
            if pragma := _journal_pragma(p):
                await (await conn.execute(pragma)).close()
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            break
        except sqlite3.Error as exc:
            if conn is not None:
                await conn.close()
            await asyncio.sleep(_retry_pause(p, exc, attempt))
    locks.register_saver_path(saver, p)
    _OPEN_ASYNC.add(conn)
    return saver


def close_sync_saver(saver: SqliteSaver) -> None:
    """Close a sync SQLite saver's connection (e.g. before deleting the file)."""
    locks.release_saver(saver)
    saver.conn.close()


async def close_saver(saver: BaseCheckpointSaver) -> None:
    """Close a SQLite saver's connection, or a Postgres saver's pool, now rather than at exit."""
    if isinstance(saver, (_pg.PostgresSaver, _pg.AsyncPostgresSaver)):
        await _pg.aclose_postgres_saver(saver)
    elif isinstance(saver, AsyncSqliteSaver):
        locks.release_saver(saver)
        _OPEN_ASYNC.discard(saver.conn)
        await saver.conn.close()
    else:
        close_sync_saver(saver)
