"""This process's one descriptor per lock file, what it holds there, and the fcntl calls on it.

POSIX locks belong to the process, and closing ANY descriptor of the file drops ALL of the process's locks
on it: so a descriptor stays open while this process holds anything there, and one mutex guards the table
and every fcntl call (none blocks but a wipe's wait).
"""
from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lessonkit.errors import CheckpointPathError
from lessonkit.persistence.locks.flock import _FREE, DATABASE_BYTE, flock_holder, flock_layout, flock_query
from lessonkit.persistence.locks.owners import Holder, Owner

if TYPE_CHECKING:
    from lessonkit.persistence.locks.database_lock import DatabaseHold

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass
class LockFile:
    """This process's one descriptor on a lock file, and what it holds there."""

    fd: int
    runs: dict[int, Owner] = field(default_factory=dict)  # thread byte → who in this process runs on it
    holds: int = 0  # open savers in this process (byte 0 shared while > 0)
    exclusive: bool = False  # this process is wiping the database (byte 0 exclusive)

    def idle(self) -> bool:
        return not (self.runs or self.holds or self.exclusive)


_MUTEX = threading.Lock()  # guards every table below, and every fcntl call (none blocks but a wipe's wait)
_FILES: dict[str, LockFile] = {}
_LET_GO: list[DatabaseHold] = []  # holds of savers the garbage collector took, released at the next safe moment
_generation = 0  # bumped in a forked child: holds taken before the fork are not the child's to give back


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """The mutex around the tables; on the way out, the holds the garbage collector let go of meanwhile are released."""
    with _MUTEX:
        try:
            yield
        finally:
            _release_let_go()


def _release_let_go() -> None:
    while _LET_GO:
        _LET_GO.pop()._release()


def let_go(hold: DatabaseHold) -> None:
    """Release a hold from a finalizer: the collector may run mid-change, even in the thread changing the tables."""
    _LET_GO.append(hold)
    if _MUTEX.acquire(blocking=False):  # else whoever holds it releases this on the way out
        try:
            _release_let_go()
        finally:
            _MUTEX.release()


def generation() -> int:
    """How many forks this process is away from the one that started (holds of an older generation are not ours)."""
    return _generation


def open_lock_file(path: str) -> LockFile:
    """The process's descriptor for a lock file, opened on first use (caller holds the mutex)."""
    file = _FILES.get(path)
    if file is None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise CheckpointPathError(
                f"cannot open the lock file {path!r} beside the database ({exc}). "
                "The database's folder must be writable; pick a writable path.") from exc
        file = _FILES[path] = LockFile(fd)
    return file


def opened_lock_file(path: str) -> LockFile | None:
    """The process's descriptor for a lock file if it has one open now (caller holds the mutex)."""
    return _FILES.get(path)


def close_if_idle(path: str) -> None:
    """Close a lock file this process holds nothing on (closing drops nothing then) (caller holds the mutex)."""
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


def take(fd: int, kind: int, start: int) -> Holder | None:
    """Take a byte from other processes, or say who holds it (tries again if the holder has just let go)."""
    for _ in range(3):
        if _try_lock(fd, kind, start):
            return None
        pid = _query_holder(fd, start)
        if pid != _FREE:
            return Holder(pid)
    return Holder(None)


def settle_database_byte(file: LockFile) -> None:
    """Byte 0 as this process's state says: exclusive while wiping, shared while a saver is open, else free.

    Taking it shared waits (F_SETLKW) for another process's wipe, which lasts a moment (caller holds the mutex).
    """
    if file.exclusive:
        return
    if file.holds:
        fcntl.lockf(file.fd, fcntl.LOCK_SH, 1, DATABASE_BYTE)
    else:
        fcntl.lockf(file.fd, fcntl.LOCK_UN, 1, DATABASE_BYTE)


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


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
