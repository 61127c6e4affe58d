"""The locks behind ``lessonkit.runs``: one run at a time per thread, across processes on one SQLite file.

A database gets ONE lock file beside it, ``<database>-lessonkit.lock``, and every lock is a POSIX
byte-range lock on that file (``fcntl``). The kernel drops them when a process dies, even by SIGKILL,
so a killed kernel never leaves a thread locked; and F_GETLK names the holder's pid for the message.

- byte 0, "database open": shared while a saver of this process has the database open
  (``hold_database``, ``register_saver_path``); exclusive only while lessonkit wipes the file
  (``exclusive_database``, for ``fresh=True``), so a wipe never pulls a database from under another process.
- byte 1 + h(thread id), "a run on this thread": exclusive while a run is in progress. h is a 62-bit
  hash of the id: a million threads in one file give about a one-in-ten-million chance that two
  share a byte, and two that do would only take turns.

POSIX locks belong to the process (not to the descriptor or the OS thread), and closing ANY descriptor
of the file drops ALL of the process's locks on it. So a process keeps exactly one descriptor per lock
file, never closed while it holds a lock, and an in-process table makes two threads or asyncio tasks of
one process exclude each other as well. A saver with no file (InMemorySaver, or one that cannot be
mapped to a file) gets the in-process table alone. Another backend (Postgres advisory locks across
machines, say) implements ``ThreadLocks`` and is attached to its saver with ``use_thread_locks``.
Without ``fcntl`` (Windows) a database falls back to the in-process table: one process is serialized,
several are not.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import sqlite3
import struct
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from lessonkit.errors import CheckpointPathError, DatabaseInUseError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = "-lessonkit.lock"
DATABASE_BYTE = 0
_FREE = -1  # what _query_holder says when nobody holds the byte any more


# ---------------------------------------------------------------- who holds what

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
    """Per-thread run locks of one checkpoint store. The try_ forms never wait: lessonkit.runs decides whether to.

    ``name`` names the store in messages and tells stores apart (two savers on one file share one ThreadLocks).
    """

    name: str

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        """Take the thread's lock and return None, or return who holds it."""

    def release(self, thread_id: str) -> None: ...

    async def atry_acquire(self, thread_id: str, owner: Owner) -> Holder | None: ...

    async def arelease(self, thread_id: str) -> None: ...


# ---------------------------------------------------------------- pure helpers

def lock_file_path(database: str | os.PathLike[str]) -> str:
    """The one lock file of a database: beside it, named after its real path (two names for one file share it)."""
    return os.path.realpath(os.fsdecode(database)) + LOCK_SUFFIX


def thread_offset(thread_id: str) -> int:
    """The byte of the lock file that stands for ``thread_id``: 1 + a 62-bit hash (byte 0 is the database's)."""
    digest = hashlib.blake2b(thread_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return 1 + (int.from_bytes(digest, "big") >> 2)


# struct flock differs by platform: Linux (type, whence, start, len, pid), macOS/BSD (start, len, pid, type, whence).
_FLOCK_LAYOUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "linux": ("hhqqi", ("type", "whence", "start", "len", "pid")),
    "darwin": ("qqihh", ("start", "len", "pid", "type", "whence")),
    "freebsd": ("qqihh", ("start", "len", "pid", "type", "whence")),
}


def flock_layout(platform: str = sys.platform) -> tuple[str, tuple[str, ...]] | None:
    """How ``struct flock`` is laid out here, for F_GETLK; None on a platform lessonkit does not know."""
    return next((layout for prefix, layout in _FLOCK_LAYOUTS.items() if platform.startswith(prefix)), None)


def flock_query(layout: tuple[str, tuple[str, ...]], start: int, write_lock: int, seek_set: int = os.SEEK_SET) -> bytes:
    """An F_GETLK request: "who would stop me taking byte ``start`` exclusively?"."""
    fmt, fields = layout
    values = {"type": write_lock, "whence": seek_set, "start": start, "len": 1, "pid": 0}
    return struct.pack(fmt, *(values[name] for name in fields)) + bytes(8)  # room for trailing padding


def flock_holder(layout: tuple[str, tuple[str, ...]], answer: bytes, unlocked: int) -> int | None:
    """The pid in an F_GETLK answer: _FREE when nobody holds the byte now, None when the kernel gives no pid."""
    fmt, fields = layout
    got = dict(zip(fields, struct.unpack_from(fmt, answer)))
    if got["type"] == unlocked:
        return _FREE
    return got["pid"] if got["pid"] > 0 else None  # 0: a holder in another pid namespace


def main_database_file(rows: Sequence[Sequence[Any]]) -> str | None:
    """The main database's file from ``PRAGMA database_list`` rows (None for :memory: and temporary databases)."""
    return next((str(row[2]) or None for row in rows if row[1] == "main"), None)


# ---------------------------------------------------------------- the process's lock files

@dataclass
class _LockFile:
    """This process's one descriptor on a lock file, and what it holds there."""

    fd: int
    runs: dict[int, Owner] = field(default_factory=dict)  # thread byte → who in this process runs on it
    holds: int = 0  # open savers in this process (byte 0 shared while > 0)
    exclusive: bool = False  # this process is wiping the database (byte 0 exclusive)

    def idle(self) -> bool:
        return not (self.runs or self.holds or self.exclusive)


_MUTEX = threading.Lock()  # guards every table below, and every fcntl call (none blocks but a wipe's wait)
_FILES: dict[str, _LockFile] = {}
_LET_GO: list[DatabaseHold] = []  # holds of savers the garbage collector took, released at the next safe moment
_generation = 0  # bumped in a forked child: holds taken before the fork are not the child's to give back


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """The mutex around the tables; on the way out, the holds the garbage collector let go of meanwhile are released."""
    with _MUTEX:
        try:
            yield
        finally:
            _release_let_go()


def _release_let_go() -> None:
    while _LET_GO:
        _LET_GO.pop()._release()


def _lock_file(path: str) -> _LockFile:
    """The process's descriptor for a lock file, opened on first use (caller holds _MUTEX)."""
    file = _FILES.get(path)
    if file is None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise CheckpointPathError(
                f"cannot open the lock file {path!r} beside the database ({exc}). "
                "The database's folder must be writable; pick a writable path.") from exc
        file = _FILES[path] = _LockFile(fd)
    return file


def _close_if_idle(path: str) -> None:
    """Close a lock file this process holds nothing on (closing drops nothing then) (caller holds _MUTEX)."""
    file = _FILES.get(path)
    if file is not None and file.idle():
        del _FILES[path]
        os.close(file.fd)


def _try_lock(fd: int, kind: int, start: int) -> bool:
    try:
        fcntl.lockf(fd, kind | fcntl.LOCK_NB, 1, start)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


def _query_holder(fd: int, start: int) -> int | None:
    layout = flock_layout()
    if layout is None:
        return None
    answer = fcntl.fcntl(fd, fcntl.F_GETLK, flock_query(layout, start, fcntl.F_WRLCK))
    return flock_holder(layout, answer, fcntl.F_UNLCK)


def _take(fd: int, kind: int, start: int) -> Holder | None:
    """Take a byte from other processes, or say who holds it (tries again if the holder has just let go)."""
    for _ in range(3):
        if _try_lock(fd, kind, start):
            return None
        pid = _query_holder(fd, start)
        if pid != _FREE:
            return Holder(pid)
    return Holder(None)


def _settle_database_byte(file: _LockFile) -> None:
    """Byte 0 as this process's state says: exclusive while wiping, shared while a saver is open, else free.

    Taking it shared waits (F_SETLKW) for another process's wipe, which lasts a moment (caller holds _MUTEX).
    """
    if file.exclusive:
        return
    if file.holds:
        fcntl.lockf(file.fd, fcntl.LOCK_SH, 1, DATABASE_BYTE)
    else:
        fcntl.lockf(file.fd, fcntl.LOCK_UN, 1, DATABASE_BYTE)


# ---------------------------------------------------------------- thread locks

class _NonBlocking:
    """Locks whose try and release never wait: the async forms are the sync ones."""

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        raise NotImplementedError

    def release(self, thread_id: str) -> None:
        raise NotImplementedError

    async def atry_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        return self.try_acquire(thread_id, owner)

    async def arelease(self, thread_id: str) -> None:
        self.release(thread_id)


_MEMORY_LOCKS: weakref.WeakSet[MemoryThreadLocks] = weakref.WeakSet()


class MemoryThreadLocks(_NonBlocking):
    """In this process only: for a saver with no file (InMemorySaver), or a platform without fcntl."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.held: dict[str, Owner] = {}
        _MEMORY_LOCKS.add(self)

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        with _locked():
            other = self.held.get(thread_id)
            if other is None:
                self.held[thread_id] = owner
                return None
        return Holder(os.getpid(), other)

    def release(self, thread_id: str) -> None:
        with _locked():
            self.held.pop(thread_id, None)


class FileThreadLocks(_NonBlocking):
    """Run locks of one database file: other processes through its lock file, this one through a table."""

    def __init__(self, database: str) -> None:
        self.name = database
        self.lock_path = lock_file_path(database)

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        offset = thread_offset(thread_id)
        with _locked():
            file = _lock_file(self.lock_path)
            mine = file.runs.get(offset)
            if mine is not None:
                return Holder(os.getpid(), mine)
            holder = _take(file.fd, fcntl.LOCK_EX, offset)
            if holder is None:
                file.runs[offset] = owner
            else:
                _close_if_idle(self.lock_path)
            return holder

    def release(self, thread_id: str) -> None:
        offset = thread_offset(thread_id)
        with _locked():
            file = _FILES.get(self.lock_path)
            if file is None or file.runs.pop(offset, None) is None:
                return
            fcntl.lockf(file.fd, fcntl.LOCK_UN, 1, offset)
            _close_if_idle(self.lock_path)


# ---------------------------------------------------------------- the database lock (byte 0)

class DatabaseHold:
    """This process has a database open (byte 0 shared) until ``release()``, which may be called more than once."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self.released = fcntl is None
        self.generation = _generation

    def release(self) -> None:
        with _locked():
            self._release()

    def release_later(self) -> None:
        """release() for a finalizer: the collector may run mid-change, even in the thread changing the tables."""
        _LET_GO.append(self)
        if _MUTEX.acquire(blocking=False):  # else whoever holds it releases this on the way out
            try:
                _release_let_go()
            finally:
                _MUTEX.release()

    def _release(self) -> None:  # caller holds _MUTEX
        if self.released:
            return
        self.released = True
        file = _FILES.get(self.lock_path)
        if file is None or self.generation != _generation:  # taken before a fork: the child never held it
            return
        file.holds -= 1
        _settle_database_byte(file)
        _close_if_idle(self.lock_path)


def _hold(database: str | os.PathLike[str]) -> DatabaseHold:  # caller holds _MUTEX
    path = lock_file_path(database)
    if fcntl is not None:
        file = _lock_file(path)
        file.holds += 1
        _settle_database_byte(file)
    return DatabaseHold(path)


def hold_database(database: str | os.PathLike[str]) -> DatabaseHold:
    """Mark the database open in this process, so no other process wipes it (``fresh=True``) meanwhile."""
    with _locked():
        return _hold(database)


def in_use_message(database: str, pid: int | None, *, this_process: bool = False) -> str:
    if this_process:
        return (f"cannot start {database!r} fresh: a run in this process (pid {pid}) is still using it. "
                "Let that run finish (or stop it) first.")
    who = f"process {pid}" if pid else "another process"
    return (f"cannot start {database!r} fresh: {who} has it open (another notebook kernel, script or server "
            "using the same file). Close that kernel or its saver first, or use another file name.")


@contextlib.contextmanager
def exclusive_database(database: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the database alone for the block (to wipe it); DatabaseInUseError naming the pid if another process has it open.

    A run of this process on it refuses too. On exit byte 0 goes back to shared if this process still has savers open on it.
    """
    name, path = os.fsdecode(database), lock_file_path(database)
    if fcntl is None:
        yield
        return
    with _locked():
        file = _lock_file(path)
        if file.runs:
            raise DatabaseInUseError(in_use_message(name, os.getpid(), this_process=True), name, os.getpid())
        holder = _take(file.fd, fcntl.LOCK_EX, DATABASE_BYTE)
        if holder is not None:
            _close_if_idle(path)
            raise DatabaseInUseError(in_use_message(name, holder.pid), name, holder.pid)
        file.exclusive = True
    try:
        yield
    finally:
        with _locked():
            file.exclusive = False
            _settle_database_byte(file)
            _close_if_idle(path)


# ---------------------------------------------------------------- which locks a saver uses

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
    with _locked():
        if saver in _HOLDS:
            return
        _PATHS[saver] = os.path.realpath(name)
        hold = _HOLDS[saver] = _hold(name)
    weakref.finalize(saver, hold.release_later)


def savers_of(database: str | os.PathLike[str]) -> list[Any]:
    """This process's registered savers on a database file (fresh=True closes them: they are being replaced)."""
    name = os.path.realpath(os.fsdecode(database))
    with _locked():
        return [saver for saver, path in list(_PATHS.items()) if path == name and saver in _HOLDS]


def release_saver(saver: Any) -> None:
    """The saver is closed: this process no longer has its database open on its account."""
    with _locked():
        hold = _HOLDS.pop(saver, None)
    if hold is not None:
        hold.release()


def use_thread_locks(saver: Any, locks: ThreadLocks) -> None:
    """Give a saver another lock backend (the extension point: Postgres advisory locks across machines, say)."""
    with _locked():
        _SAVER_LOCKS[saver] = locks


def database_locks(database: str | os.PathLike[str]) -> ThreadLocks:
    """The run locks of one database file (in-process only where fcntl is missing)."""
    real = os.path.realpath(os.fsdecode(database))
    with _locked():
        locks = _DATABASE_LOCKS.get(real)
        if locks is None:
            locks = _DATABASE_LOCKS[real] = FileThreadLocks(real) if fcntl is not None else MemoryThreadLocks(real)
        return locks


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


def _own_table(saver: Any) -> MemoryThreadLocks:
    return MemoryThreadLocks(f"{type(saver).__name__} at {id(saver):#x}")


def _remember(saver: Any, database: str | None) -> ThreadLocks:
    if database:
        register_saver_path(saver, database)
    locks = database_locks(database) if database else _own_table(saver)
    with _locked():
        return _SAVER_LOCKS.setdefault(saver, locks)


def _known(saver: Any) -> tuple[ThreadLocks | None, str | None]:
    with _locked():
        return _SAVER_LOCKS.get(saver), _PATHS.get(saver)


def _known_or_sync(saver: Any) -> tuple[ThreadLocks | None, str | None]:
    """What is known of a saver already, or what a sync saver's connection says of its file."""
    locks, database = _known(saver)
    if locks is None and database is None and isinstance(saver, SqliteSaver):
        database = _sqlite_file(saver)
    return locks, database


def thread_locks_for(saver: Any) -> ThreadLocks:
    """The run locks a saver's threads use: its file's, else the saver's own in-process table."""
    locks, database = _known_or_sync(saver)
    if locks is not None:
        return locks
    if database is None and isinstance(saver, AsyncSqliteSaver):
        database = _asqlite_file_from_another_thread(saver)
        if database == _UNKNOWN:  # the run fails in LangGraph anyway; remember nothing
            return _own_table(saver)
    return _remember(saver, database)


async def athread_locks_for(saver: Any) -> ThreadLocks:
    """thread_locks_for(), which can also ask an AsyncSqliteSaver's connection for its file."""
    locks, database = _known_or_sync(saver)
    if locks is not None:
        return locks
    if database is None and isinstance(saver, AsyncSqliteSaver):
        database = await _asqlite_file(saver)
    return _remember(saver, database)


# ---------------------------------------------------------------- fork

def _forget_after_fork() -> None:
    """A forked child holds none of its parent's POSIX locks: start its tables empty."""
    global _MUTEX, _generation
    _MUTEX = threading.Lock()
    _LET_GO.clear()
    _generation += 1
    for file in _FILES.values():
        with contextlib.suppress(OSError):
            os.close(file.fd)  # the child's own descriptor: closing it drops nothing of the parent's
    _FILES.clear()
    _HOLDS.clear()
    for locks in list(_MEMORY_LOCKS):
        locks.held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
