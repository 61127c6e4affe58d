"""Where a lesson's SQLite checkpoint database lives, whether a path can hold one, and wiping one safely.

A relative name goes beside the notebook, or in a per-user data folder when that folder is shared or
read-only; ``fresh=True`` deletes only a LangGraph checkpoint database no other process has open.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import sqlite3
from pathlib import Path

from lessonkit.persistence import locks
from lessonkit.errors import CheckpointPathError, DatabaseInUseError
from lessonkit.harness.settings import VARIABLES, raw

DATA_DIR_VARIABLE = VARIABLES["data_dir"]
SQLITE_HEADER = b"SQLite format 3\x00"
LANGGRAPH_TABLES = frozenset({"checkpoints", "writes"})  # what SqliteSaver.setup() creates


def data_folder() -> Path:
    """The per-user folder for databases that cannot live beside the notebook: LESSONKIT_DATA_DIR, else XDG's."""
    chosen = raw("data_dir") or ""
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
    if raw("data_dir") or "":
        return str(data_folder() / p)
    here = os.path.abspath(p)
    folder = os.path.dirname(here)
    if _mine_and_writable(folder) or not os.path.isdir(folder):
        return here  # (a folder that does not exist is reported by the caller, not quietly moved)
    cwd = os.getcwd()
    tag = hashlib.sha256(cwd.encode()).hexdigest()[:8]  # two class folders with one name stay apart
    return str(data_folder() / f"{os.path.basename(cwd) or 'root'}-{tag}" / p)


def checked_path(path: str | os.PathLike[str], *, fresh: bool = False) -> str:
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


def open_error(path: str, exc: BaseException) -> CheckpointPathError:
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
            raise open_error(path, err) from err
        raise DatabaseInUseError(
            f"cannot start {path!r} fresh: another connection has it open (an earlier saver in this kernel, or "
            "another kernel or program). Close it first (checkpoints.close_sync_saver(saver), or await "
            "checkpoints.close_saver(saver)) or restart the kernel that holds it, or use another file name.",
            path, None) from None
    finally:
        conn.close()
