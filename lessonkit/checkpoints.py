"""Checkpointer helpers that hand back a ready saver (no context-manager trap).

In-memory and file-backed, sync and async, plus helpers to list threads, read a thread's
messages and history, and delete a thread. Async savers are closed at exit, so nothing hangs.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import itertools
import os
import sqlite3
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from lessonkit import locks
from lessonkit.errors import CheckpointPathError, DatabaseInUseError, ThreadNotFoundError
from lessonkit.exit_hooks import at_interpreter_exit
from lessonkit.runs import athread_run, thread_run, validate_thread_id

from lessonkit import postgres as _pg
from lessonkit.postgres import (  # noqa: F401  (re-exported: checkpoints.postgres_saver(url) etc.)
    aclose_postgres_saver,
    async_postgres_saver,
    close_postgres_saver,
    postgres_saver,
)

_SYNC_POSTGRES: tuple[type, ...] = (_pg.PostgresSaver,)
_ASYNC_POSTGRES: tuple[type, ...] = (_pg.AsyncPostgresSaver,)
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


DATA_DIR_VARIABLE = "LESSONKIT_DATA_DIR"
SQLITE_HEADER = b"SQLite format 3\x00"
LANGGRAPH_TABLES = frozenset({"checkpoints", "writes"})  # what SqliteSaver.setup() creates
# Raw SQL on the saver's table (no public "list threads" API; saver.list(None) decodes every checkpoint):
# tests/test_private_apis.py fails, naming it, if setup() stops creating these tables or that column.
SQLITE_THREADS_SQL = "SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id"


def data_folder() -> Path:
    """The per-user folder for databases that cannot live beside the notebook: LESSONKIT_DATA_DIR, else XDG's."""
    chosen = os.environ.get(DATA_DIR_VARIABLE, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "lessonkit"


def _mine_and_writable(folder: str) -> bool:
    try:
        return os.stat(folder).st_uid == os.geteuid() and os.access(folder, os.W_OK)
    except OSError:
        return False


def database_path(path: str | os.PathLike[str]) -> str:
    """Where a database a lesson names (``"01_persistence_and_threads.db"``) really lives.

    Absolute paths and ``:memory:`` are used as given. A relative name goes in LESSONKIT_DATA_DIR when
    that is set; otherwise beside the notebook when this user owns that folder and may write there
    (one student, one checkout: nothing changes); otherwise (a class folder several students share,
    a read-only checkout) in a per-user data folder, so nobody reads, wipes or locks another's threads.
    """
    p = os.fsdecode(path)
    if p == ":memory:" or os.path.isabs(p):
        return p
    if os.environ.get(DATA_DIR_VARIABLE, "").strip():
        return str(data_folder() / p)
    here = os.path.abspath(p)
    folder = os.path.dirname(here)
    if _mine_and_writable(folder) or not os.path.isdir(folder):
        return here  # (a folder that does not exist is reported by the caller, not quietly moved)
    cwd = os.getcwd()
    tag = hashlib.sha256(cwd.encode()).hexdigest()[:8]  # two class folders with one name stay apart
    return str(data_folder() / f"{os.path.basename(cwd) or 'root'}-{tag}" / p)


def _checked_path(path: str | os.PathLike[str], *, fresh: bool = False) -> str:
    """Fail early, naming the path, instead of sqlite's bare 'unable to open database file'.

    ``fresh``: once the path is known to be usable, delete what is there (the savers' ``fresh=True``),
    which must be a checkpoint database that no other process has open.
    """
    p = database_path(path)
    if p == ":memory:":
        return p
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent) and Path(parent).is_relative_to(data_folder()):  # ours to make
        with contextlib.suppress(OSError):
            os.makedirs(parent, exist_ok=True)
    # WAL mode also creates -wal/-shm files next to the database, so the folder must be writable.
    problem = (f"folder {parent!r} does not exist or is not a folder" if not os.path.isdir(parent)
               else "it is a folder" if os.path.isdir(p)
               else "it is not writable" if not os.access(parent, os.W_OK)
               or (os.path.exists(p) and not os.access(p, os.W_OK)) else None)
    if problem:
        raise CheckpointPathError(f"cannot use {p!r} as a checkpoint database: {problem}. "
                                  f"Create the folder or pick a writable path (or set {DATA_DIR_VARIABLE} to a writable folder).")
    if fresh:
        remove_database(p)
    return p


_OPEN_TRIES, _OPEN_PAUSE_S = 50, 0.1


def _open_again(exc: sqlite3.Error, attempt: int) -> bool:
    """Whether to try opening again: two processes switching one new file to WAL at the same moment get
    'database is locked' at once (SQLite does not wait on its busy timeout there); a moment later it works."""
    return "locked" in str(exc) and attempt + 1 < _OPEN_TRIES


def _open_error(path: str, exc: BaseException) -> CheckpointPathError:
    return CheckpointPathError(
        f"cannot open {path!r} as a checkpoint database ({exc}). "
        "Pick a writable path to a SQLite file (or a new file name).")


def foreign_reason(path: str | os.PathLike[str]) -> str | None:
    """Why the file at ``path`` is not a LangGraph checkpoint database lessonkit may delete (None: it is, or is absent).

    Checked from the bytes: the SQLite header, then the tables (LangGraph's and nothing else).
    """
    p = os.fsdecode(path)
    try:
        with open(p, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "it is a folder"
    if head and head != SQLITE_HEADER:
        return "it is not a SQLite database (a notebook, a text file or other data?)"
    try:
        conn = sqlite3.connect(Path(p).absolute().as_uri() + "?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                      if not row[0].startswith("sqlite_")}  # SQLite's own (ANALYZE's sqlite_stat1, AUTOINCREMENT's sequence)
        finally:
            conn.close()
    except sqlite3.Error as err:
        return f"SQLite cannot read it ({err})"
    if not tables:
        return None  # an empty database: nothing in it to lose
    if not LANGGRAPH_TABLES <= tables:
        return "it is a SQLite database without LangGraph's checkpoint tables (another application's?)"
    others = sorted(tables - LANGGRAPH_TABLES)
    if others:
        return f"besides LangGraph's checkpoints it holds other tables ({', '.join(others)})"
    return None


def remove_database(path: str | os.PathLike[str]) -> None:
    """Delete a checkpoint database and its WAL side files: a lesson that must start from a clean slate.

    Only a LangGraph checkpoint database is deleted; anything else at the path raises
    CheckpointPathError and stays byte-identical.
    """
    p = os.fsdecode(path)
    reason = foreign_reason(p)
    if reason:
        raise CheckpointPathError(
            f"will not delete {p!r}: {reason}. fresh=True only replaces a LangGraph checkpoint database; "
            "pick another file name for the lesson's database, or move that file away.")
    files = [p + suffix for suffix in ("", "-wal", "-shm") if os.path.exists(p + suffix)]
    if not files:
        return
    # Another process with the file open (a second kernel on this lesson) must not lose it from under
    # itself: exclusive_database raises DatabaseInUseError naming that process. The lock file stays.
    with locks.exclusive_database(p):
        _refuse_if_connected(p)
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)


def _refuse_if_connected(path: str) -> None:
    """Ask SQLite itself whether any connection has the file open (a plain SqliteSaver in another
    kernel, or an earlier saver in this one): leaving WAL mode needs every other connection gone."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    gc.collect()  # a saver nobody holds any more can keep its connection open in a reference cycle until then
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
    except sqlite3.OperationalError as err:
        if "locked" not in str(err) and "busy" not in str(err):
            raise _open_error(path, err) from err
        raise DatabaseInUseError(
            f"cannot start {path!r} fresh: another connection has it open (an earlier saver in this kernel, or "
            "another kernel or program). Close it first (checkpoints.close_sync_saver(saver), or await "
            "checkpoints.close_saver(saver)) or restart the kernel that holds it, or use another file name.",
            path, None) from None
    finally:
        conn.close()


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
    p = _checked_path(path, fresh=fresh)
    for attempt in itertools.count():
        conn = None
        try:
            conn = sqlite3.connect(p, check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
            if p != ":memory:":  # WAL: readers don't block the writer, two processes can share a file
                conn.execute("PRAGMA journal_mode=WAL")
            saver = SqliteSaver(conn)
            saver.setup()
            break
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if not _open_again(exc, attempt):
                raise _open_error(p, exc) from exc
            time.sleep(_OPEN_PAUSE_S)
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
    p = _checked_path(path, fresh=fresh)
    for attempt in itertools.count():
        conn = None
        try:
            conn = await aiosqlite.connect(p, timeout=_BUSY_TIMEOUT_S)
            if p != ":memory:":
                await (await conn.execute("PRAGMA journal_mode=WAL")).close()
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            break
        except sqlite3.Error as exc:
            if conn is not None:
                await conn.close()
            if not _open_again(exc, attempt):
                raise _open_error(p, exc) from exc
            await asyncio.sleep(_OPEN_PAUSE_S)
    locks.register_saver_path(saver, p)
    _OPEN_ASYNC.add(conn)
    return saver


def close_sync_saver(saver: SqliteSaver) -> None:
    """Close a sync SQLite saver's connection (e.g. before deleting the file)."""
    locks.release_saver(saver)
    saver.conn.close()


async def close_saver(saver: BaseCheckpointSaver) -> None:
    """Close a SQLite saver's connection, or a Postgres saver's pool, now rather than at exit."""
    if isinstance(saver, (*_SYNC_POSTGRES, *_ASYNC_POSTGRES)):
        await _pg.aclose_postgres_saver(saver)
    elif isinstance(saver, AsyncSqliteSaver):
        locks.release_saver(saver)
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
    if isinstance(saver, (AsyncSqliteSaver, *_ASYNC_POSTGRES)):
        raise TypeError("this is an async saver: use the a-prefixed helper (await alist_threads(...) etc.)")


# ---------------------------------------------------------------- sync helpers

def list_threads(saver: BaseCheckpointSaver) -> list[str]:
    """Distinct thread ids stored in the saver, sorted: 'what conversations does this DB hold?'."""
    _no_async_saver(saver)
    if isinstance(saver, SqliteSaver):  # one cheap query instead of decoding every checkpoint
        with saver.cursor(transaction=False) as cur:
            cur.execute(SQLITE_THREADS_SQL)
            return [str(row[0]) for row in cur.fetchall()]
    if isinstance(saver, _SYNC_POSTGRES):
        return _pg.list_thread_ids(saver)
    return _thread_ids(saver.list(None))


def thread_messages(saver: BaseCheckpointSaver, thread_id: str) -> list[BaseMessage]:
    """The `messages` channel of the thread's latest checkpoint, without needing the graph."""
    thread_id = validate_thread_id(thread_id)
    _no_async_saver(saver)
    tup = saver.get_tuple(_config(thread_id))
    if tup is None:
        raise ThreadNotFoundError(thread_id, list_threads(saver))
    return _messages(tup)


def thread_history(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointSummary]:
    """Every checkpoint of the thread, oldest first: the 'time travel' view of a conversation."""
    thread_id = validate_thread_id(thread_id)
    _no_async_saver(saver)
    tuples = list(saver.list(_config(thread_id)))
    if not tuples:
        raise ThreadNotFoundError(thread_id, list_threads(saver))
    return _history(tuples)


def delete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Forget one conversation (its checkpoints and pending writes); other threads are kept.

    Waits for nothing: a thread with a run going raises ThreadBusyError instead of vanishing under it.
    """
    thread_id = validate_thread_id(thread_id)
    known = list_threads(saver)
    if thread_id not in known:
        raise ThreadNotFoundError(thread_id, known)
    with thread_run(saver, thread_id):
        saver.delete_thread(thread_id)


# ---------------------------------------------------------------- async helpers

async def alist_threads(saver: BaseCheckpointSaver) -> list[str]:
    """Async list_threads(), for AsyncSqliteSaver and AsyncPostgresSaver (any saver works)."""
    if isinstance(saver, (SqliteSaver, *_SYNC_POSTGRES)):  # sync-only saver: its a-methods raise NotImplementedError
        return list_threads(saver)
    if isinstance(saver, AsyncSqliteSaver):
        await saver.setup()
        async with saver.lock, saver.conn.execute(SQLITE_THREADS_SQL) as cur:
            return [str(row[0]) for row in await cur.fetchall()]
    if isinstance(saver, _ASYNC_POSTGRES):
        return await _pg.alist_thread_ids(saver)
    return _thread_ids([t async for t in saver.alist(None)])


async def athread_messages(saver: BaseCheckpointSaver, thread_id: str) -> list[BaseMessage]:
    """Async thread_messages()."""
    thread_id = validate_thread_id(thread_id)
    if isinstance(saver, (SqliteSaver, *_SYNC_POSTGRES)):
        return thread_messages(saver, thread_id)
    tup = await saver.aget_tuple(_config(thread_id))
    if tup is None:
        raise ThreadNotFoundError(thread_id, await alist_threads(saver))
    return _messages(tup)


async def athread_history(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointSummary]:
    """Async thread_history()."""
    thread_id = validate_thread_id(thread_id)
    if isinstance(saver, (SqliteSaver, *_SYNC_POSTGRES)):
        return thread_history(saver, thread_id)
    tuples = [t async for t in saver.alist(_config(thread_id))]
    if not tuples:
        raise ThreadNotFoundError(thread_id, await alist_threads(saver))
    return _history(tuples)


async def adelete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Async delete_thread()."""
    if isinstance(saver, (SqliteSaver, *_SYNC_POSTGRES)):
        return delete_thread(saver, thread_id)
    thread_id = validate_thread_id(thread_id)
    known = await alist_threads(saver)
    if thread_id not in known:
        raise ThreadNotFoundError(thread_id, known)
    async with athread_run(saver, thread_id):
        await saver.adelete_thread(thread_id)
