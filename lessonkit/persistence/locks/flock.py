"""Pure helpers of the lock file: its path, the byte of each thread, and ``struct flock`` for F_GETLK."""
from __future__ import annotations

import hashlib
import os
import struct
import sys
from collections.abc import Sequence
from typing import Any

LOCK_SUFFIX = "-lessonkit.lock"
DATABASE_BYTE = 0
_FREE = -1  # what _query_holder says when nobody holds the byte any more


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
