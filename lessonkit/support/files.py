"""Replacing files safely: complete-or-nothing writes with ordinary permissions.

Every file lessonkit replaces (recordings, notebooks, journals) goes through ``atomic_write``: the
new bytes go to a temporary file in the same folder, are flushed to disk, and only then renamed over
the old file. A crash, a signal or a full disk at any moment leaves either the old file or the new
one, never half of each. The new file gets the old file's permission bits (or the umask's, for a new
file), not ``mkstemp``'s private 0600, so a shared class folder stays readable by the group.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from ..errors import LessonkitError

TEMP_SUFFIX = ".tmp"  # .gitignore ignores *.tmp, so a leftover from a SIGKILL never reaches a commit


class WriteError(LessonkitError):
    """A file could not be written (disk full, a size limit, no permission); the old file is kept."""


def default_mode() -> int:
    """The permission bits a new file gets from the process umask (what ``open()`` would give).

    Read from /proc where it can be: setting the umask to read it back would, for a moment, give files
    other threads create (SQLite's -wal) the wrong mode.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


def describe_os_error(err: OSError) -> str:
    """An OSError in words a person can act on (EFBIG and ENOSPC are the 'disk is full' family)."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full (or your quota is used up)"
    if err.errno == errno.EFBIG:
        return "the file would exceed the size limit for this process (a full disk or a ulimit -f)"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "no permission to write there (a read-only folder?)"
    return err.strerror or type(err).__name__


def atomic_write(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once, or raise WriteError leaving the old file as it was."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # replace the file the link points to; the link stays a link
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = default_mode()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as err:
        raise WriteError(f"could not write {path}: {describe_os_error(err)}. The previous file is unchanged.") from err
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write_text(path: Path | str, text: str) -> None:
    """``atomic_write`` for UTF-8 text."""
    atomic_write(path, text.encode("utf-8"))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after the rename must not bring the old name back)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
