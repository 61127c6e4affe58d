"""The two run-lock backends of SQLite and in-memory savers: a database file's, and an in-process table."""
from __future__ import annotations

import os
import weakref

from lessonkit.persistence.locks.flock import lock_file_path, thread_offset
from lessonkit.persistence.locks.lock_files import close_if_idle, fcntl, locked, open_lock_file, opened_lock_file, take
from lessonkit.persistence.locks.owners import Holder, NonBlocking, Owner

_MEMORY_LOCKS: weakref.WeakSet[MemoryThreadLocks] = weakref.WeakSet()


class MemoryThreadLocks(NonBlocking):
    """In this process only: for a saver with no file (InMemorySaver), or a platform without fcntl."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.held: dict[str, Owner] = {}
        _MEMORY_LOCKS.add(self)

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        with locked():
            other = self.held.get(thread_id)
            if other is None:
                self.held[thread_id] = owner
                return None
        return Holder(os.getpid(), other)

    def release(self, thread_id: str) -> None:
        with locked():
            self.held.pop(thread_id, None)


class FileThreadLocks(NonBlocking):
    """Run locks of one database file: other processes through its lock file, this one through a table."""

    def __init__(self, database: str) -> None:
        self.name = database
        self.lock_path = lock_file_path(database)

    def try_acquire(self, thread_id: str, owner: Owner) -> Holder | None:
        offset = thread_offset(thread_id)
        with locked():
            file = open_lock_file(self.lock_path)
            mine = file.runs.get(offset)
            if mine is not None:
                return Holder(os.getpid(), mine)
            holder = take(file.fd, fcntl.LOCK_EX, offset)
            if holder is None:
                file.runs[offset] = owner
            else:
                close_if_idle(self.lock_path)
            return holder

    def release(self, thread_id: str) -> None:
        offset = thread_offset(thread_id)
        with locked():
            file = opened_lock_file(self.lock_path)
            if file is None or file.runs.pop(offset, None) is None:
                return
            fcntl.lockf(file.fd, fcntl.LOCK_UN, 1, offset)
            close_if_idle(self.lock_path)


def _forget_after_fork() -> None:
    """A forked child runs nothing its parent ran: its in-process tables start empty."""
    for table in list(_MEMORY_LOCKS):
        table.held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
