"""Byte 0 of a lock file, "database open": shared while a saver has it open, exclusive while lessonkit wipes it."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from lessonkit.errors import DatabaseInUseError
from lessonkit.persistence.locks import lock_files
from lessonkit.persistence.locks.flock import DATABASE_BYTE, lock_file_path
from lessonkit.persistence.locks.lock_files import (
    close_if_idle, fcntl, let_go, locked, open_lock_file, settle_database_byte, take,
)


class DatabaseHold:
    """This process has a database open (byte 0 shared) until ``release()``, which may be called more than once."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self.released = fcntl is None
        self.generation = lock_files.generation()

    def release(self) -> None:
        with locked():
            self._release()

    def release_later(self) -> None:
        """release() for a finalizer: the collector may run mid-change, even in the thread changing the tables."""
        let_go(self)

    def _release(self) -> None:  # caller holds the mutex
        if self.released:
            return
        self.released = True
        file = lock_files.opened_lock_file(self.lock_path)
        if file is None or self.generation != lock_files.generation():  # taken before a fork: the child never held it
            return
        file.holds -= 1
        settle_database_byte(file)
        close_if_idle(self.lock_path)


def hold(database: str | os.PathLike[str]) -> DatabaseHold:
    """hold_database() for a caller that holds the mutex already."""
    path = lock_file_path(database)
    if fcntl is not None:
        file = open_lock_file(path)
        file.holds += 1
        settle_database_byte(file)
    return DatabaseHold(path)


def hold_database(database: str | os.PathLike[str]) -> DatabaseHold:
    """Mark the database open in this process, so no other process wipes it (``fresh=True``) meanwhile."""
    with locked():
        return hold(database)


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
    with locked():
        file = open_lock_file(path)
        if file.runs:
            raise DatabaseInUseError(in_use_message(name, os.getpid(), this_process=True), name, os.getpid())
        holder = take(file.fd, fcntl.LOCK_EX, DATABASE_BYTE)
        if holder is not None:
            close_if_idle(path)
            raise DatabaseInUseError(in_use_message(name, holder.pid), name, holder.pid)
        file.exclusive = True
    try:
        yield
    finally:
        with locked():
            file.exclusive = False
            settle_database_byte(file)
            close_if_idle(path)
