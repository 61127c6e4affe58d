"""The locks behind ``lessonkit.persistence.runs``: one run at a time per thread, across processes on one SQLite file.

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

from lessonkit.persistence.locks.database_lock import DatabaseHold, exclusive_database, hold_database, in_use_message
from lessonkit.persistence.locks.flock import (
    DATABASE_BYTE, LOCK_SUFFIX, flock_holder, flock_layout, flock_query, lock_file_path, main_database_file,
    thread_offset,
)
from lessonkit.persistence.locks.owners import Holder, Owner, ThreadLocks, current_owner
from lessonkit.persistence.locks.saver_locks import (
    athread_locks_for, database_locks, register_saver_path, release_saver, savers_of, thread_locks_for,
    use_thread_locks,
)
from lessonkit.persistence.locks.thread_locks import FileThreadLocks, MemoryThreadLocks

__all__ = [
    "DATABASE_BYTE",
    "LOCK_SUFFIX",
    "DatabaseHold",
    "FileThreadLocks",
    "Holder",
    "MemoryThreadLocks",
    "Owner",
    "ThreadLocks",
    "athread_locks_for",
    "current_owner",
    "database_locks",
    "exclusive_database",
    "flock_holder",
    "flock_layout",
    "flock_query",
    "hold_database",
    "in_use_message",
    "lock_file_path",
    "main_database_file",
    "register_saver_path",
    "release_saver",
    "savers_of",
    "thread_locks_for",
    "thread_offset",
    "use_thread_locks",
]
