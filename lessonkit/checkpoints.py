"""Checkpointer helpers that hand back a ready saver (no context-manager trap).

In-memory and file-backed, sync and async, plus helpers to list threads, read a thread's
messages and history, and delete a thread. Async savers are closed at exit, so nothing hangs.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from lessonkit.errors import CheckpointPathError, ThreadNotFoundError

_BUSY_TIMEOUT_S = 30  # wait this long for another process's write lock instead of failing


@dataclass(frozen=True)
class CheckpointSummary:
    """One checkpoint of a thread, reduced to what a lesson shows on screen."""

    checkpoint_id: str
    parent_id: str | None
    step: int | None
    source: str | None
    writes: tuple[str, ...]  # nodes whose output produced this checkpoint (empty for input/update)
    message_count: int


# ---------------------------------------------------------------- savers

def memory_saver() -> InMemorySaver:
    """A throwaway saver: threads live as long as this Python process."""
    return InMemorySaver()


def _checked_path(path: str | os.PathLike[str], *, fresh: bool = False) -> str:
    """Fail early, naming the path, instead of sqlite's bare 'unable to open database file'.

    ``fresh``: once the path is known to be usable, delete what is there (the savers' ``fresh=True``).
    """
    p = os.fsdecode(path)
    if p == ":memory:":
        return p
    parent = os.path.dirname(os.path.abspath(p))
    # WAL mode also creates -wal/-shm files next to the database, so the folder must be writable.
    problem = (f"folder {parent!r} does not exist or is not a folder" if not os.path.isdir(parent)
               else "it is a folder" if os.path.isdir(p)
               else "it is not writable" if not os.access(parent, os.W_OK)
               or (os.path.exists(p) and not os.access(p, os.W_OK)) else None)
    if problem:
        raise CheckpointPathError(f"cannot use {p!r} as a checkpoint database: {problem}. "
                                  "Create the folder or pick a writable path.")
    if fresh:
        remove_database(p)
    return p


def _open_error(path: str, exc: BaseException) -> CheckpointPathError:
    return CheckpointPathError(
        f"cannot open {path!r} as a checkpoint database ({exc}). "
        "Pick a writable path to a SQLite file (or a new file name).")


def remove_database(path: str | os.PathLike[str]) -> None:
    """Delete a database file and its WAL side files: a lesson that must start from a clean slate."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.fsdecode(path) + suffix)


def sqlite_saver(path: str | os.PathLike[str], *, fresh: bool = False) -> SqliteSaver:
    """A file-backed saver whose threads survive kernel restarts; ready to pass to compile().

    ``fresh=True`` deletes the file first, so a lesson's outputs are the same on every run.
    """
    p = _checked_path(path, fresh=fresh)
    conn = None
    try:
        conn = sqlite3.connect(p, check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
        if p != ":memory:":  # WAL: readers don't block the writer, two processes can share a file
            conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn)
        saver.setup()
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise _open_error(p, exc) from exc
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


# atexit hooks run only *after* the interpreter has joined non-daemon threads, i.e. too late;
# threading's own hook list runs before that join (concurrent.futures relies on it).
getattr(threading, "_register_atexit", atexit.register)(_close_leftover_connections)


async def async_sqlite_saver(path: str | os.PathLike[str], *, fresh: bool = False) -> AsyncSqliteSaver:
    """The async twin of sqlite_saver() for ainvoke/astream; closed for you at exit."""
    p = _checked_path(path, fresh=fresh)
    conn = None
    try:
        conn = await aiosqlite.connect(p, timeout=_BUSY_TIMEOUT_S)
        if p != ":memory:":
            await (await conn.execute("PRAGMA journal_mode=WAL")).close()
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
    except sqlite3.Error as exc:
        if conn is not None:
            await conn.close()
        raise _open_error(p, exc) from exc
    _OPEN_ASYNC.add(conn)
    return saver


def close_sync_saver(saver: SqliteSaver) -> None:
    """Close a sync SQLite saver's connection (e.g. before deleting the file)."""
    saver.conn.close()


async def close_saver(saver: SqliteSaver | AsyncSqliteSaver) -> None:
    """Close a SQLite saver's connection now rather than at exit."""
    if isinstance(saver, AsyncSqliteSaver):
        _OPEN_ASYNC.discard(saver.conn)
        await saver.conn.close()
    else:
        close_sync_saver(saver)


# ---------------------------------------------------------------- pure builders

def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _thread_ids(tuples: Iterable[CheckpointTuple]) -> list[str]:
    return sorted({t.config["configurable"]["thread_id"] for t in tuples})


def _messages(tup: CheckpointTuple) -> list[BaseMessage]:
    return list(tup.checkpoint["channel_values"].get("messages", []))


def _history(tuples: list[CheckpointTuple]) -> list[CheckpointSummary]:
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
                                     writes, len(_messages(tup))))
    return out


def _no_async_saver(saver: BaseCheckpointSaver) -> None:
    if isinstance(saver, AsyncSqliteSaver):
        raise TypeError("this is an async saver: use the a-prefixed helper (await alist_threads(...) etc.)")


# ---------------------------------------------------------------- sync helpers

def list_threads(saver: BaseCheckpointSaver) -> list[str]:
    """Distinct thread ids stored in the saver, sorted: 'what conversations does this DB hold?'."""
    _no_async_saver(saver)
    if isinstance(saver, SqliteSaver):  # one cheap query instead of decoding every checkpoint
        with saver.cursor(transaction=False) as cur:
            cur.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")
            return [str(row[0]) for row in cur.fetchall()]
    return _thread_ids(saver.list(None))


def thread_messages(saver: BaseCheckpointSaver, thread_id: str) -> list[BaseMessage]:
    """The `messages` channel of the thread's latest checkpoint, without needing the graph."""
    _no_async_saver(saver)
    tup = saver.get_tuple(_config(thread_id))
    if tup is None:
        raise ThreadNotFoundError(thread_id, list_threads(saver))
    return _messages(tup)


def thread_history(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointSummary]:
    """Every checkpoint of the thread, oldest first: the 'time travel' view of a conversation."""
    _no_async_saver(saver)
    tuples = list(saver.list(_config(thread_id)))
    if not tuples:
        raise ThreadNotFoundError(thread_id, list_threads(saver))
    return _history(tuples)


def delete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Forget one conversation (its checkpoints and pending writes); other threads are kept."""
    known = list_threads(saver)
    if thread_id not in known:
        raise ThreadNotFoundError(thread_id, known)
    saver.delete_thread(thread_id)


# ---------------------------------------------------------------- async helpers

async def alist_threads(saver: BaseCheckpointSaver) -> list[str]:
    """Async list_threads(), for AsyncSqliteSaver (any saver works)."""
    if isinstance(saver, SqliteSaver):  # sync-only saver: its a-methods raise NotImplementedError
        return list_threads(saver)
    if isinstance(saver, AsyncSqliteSaver):
        await saver.setup()
        async with saver.lock, saver.conn.execute(
                "SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id") as cur:
            return [str(row[0]) for row in await cur.fetchall()]
    return _thread_ids([t async for t in saver.alist(None)])


async def athread_messages(saver: BaseCheckpointSaver, thread_id: str) -> list[BaseMessage]:
    """Async thread_messages()."""
    if isinstance(saver, SqliteSaver):
        return thread_messages(saver, thread_id)
    tup = await saver.aget_tuple(_config(thread_id))
    if tup is None:
        raise ThreadNotFoundError(thread_id, await alist_threads(saver))
    return _messages(tup)


async def athread_history(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointSummary]:
    """Async thread_history()."""
    if isinstance(saver, SqliteSaver):
        return thread_history(saver, thread_id)
    tuples = [t async for t in saver.alist(_config(thread_id))]
    if not tuples:
        raise ThreadNotFoundError(thread_id, await alist_threads(saver))
    return _history(tuples)


async def adelete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Async delete_thread()."""
    if isinstance(saver, SqliteSaver):
        return delete_thread(saver, thread_id)
    known = await alist_threads(saver)
    if thread_id not in known:
        raise ThreadNotFoundError(thread_id, known)
    await saver.adelete_thread(thread_id)
