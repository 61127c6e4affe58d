"""lessonkit.persistence.locks: the lock file beside a database, real fcntl locks, real other processes."""
from __future__ import annotations

import asyncio
import gc
import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from lessonkit import checkpoints
from lessonkit.persistence import locks
from lessonkit.persistence.locks import flock, lock_files
from lessonkit.errors import DatabaseInUseError, ThreadBusyError
from tests.conftest import ROOT

OTHER = locks.Owner(thread=-1)  # stands for another OS thread of this process


def other_process(db: Path, body: str) -> subprocess.Popen[str]:
    """A process that runs ``body`` (with ``db`` and lessonkit.persistence.locks in scope), prints "ready" and waits for a line."""
    code = f"import sys\nfrom lessonkit.persistence import locks\ndb = {str(db)!r}\n{textwrap.dedent(body)}\nprint('ready', flush=True)\nsys.stdin.readline()\n"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    proc.communicate("done\n", timeout=30)
    assert proc.returncode == 0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "threads.db"


# ---------------------------------------------------------------- pure helpers

def test_lock_file_sits_beside_the_database_and_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    link.symlink_to(real)
    assert locks.lock_file_path(real) == os.path.realpath(real) + "-lessonkit.lock"
    assert locks.lock_file_path(link) == locks.lock_file_path(real)  # two names, one lock file


def test_thread_offsets_are_stable_distinct_and_never_byte_0() -> None:
    ids = [f"thread-{n}" for n in range(5000)] + ["", "👩‍💻", "a" * 256]
    offsets = [locks.thread_offset(t) for t in ids]
    assert len(set(offsets)) == len(ids)
    assert all(1 <= o <= 2**62 for o in offsets)
    assert locks.thread_offset("thread-1") == offsets[1]


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_flock_layouts_read_back_the_pid(platform: str) -> None:
    layout = locks.flock_layout(platform)
    assert layout is not None
    fmt, fields = layout
    request = locks.flock_query(layout, 12345, write_lock=1)
    assert dict(zip(fields, struct.unpack_from(fmt, request)))["start"] == 12345
    held = {"type": 1, "whence": 0, "start": 12345, "len": 1, "pid": 4242}
    free = {**held, "type": 2, "pid": 0}
    assert locks.flock_holder(layout, struct.pack(fmt, *(held[f] for f in fields)), unlocked=2) == 4242
    assert locks.flock_holder(layout, struct.pack(fmt, *(free[f] for f in fields)), unlocked=2) == flock._FREE
    assert locks.flock_layout("sunos5") is None


def test_main_database_file_from_pragma_rows() -> None:
    assert locks.main_database_file([(0, "main", "/x/threads.db"), (2, "aux", "/y.db")]) == "/x/threads.db"
    assert locks.main_database_file([(0, "main", "")]) is None  # :memory:


# ---------------------------------------------------------------- thread locks in one process

def test_two_owners_in_one_process_exclude_each_other(db: Path) -> None:
    thread_locks = locks.database_locks(db)
    me = locks.current_owner()
    assert thread_locks.try_acquire("t", me) is None
    assert thread_locks.try_acquire("t", OTHER) == locks.Holder(os.getpid(), me)
    assert thread_locks.try_acquire("u", OTHER) is None  # another thread of the conversation store is free
    thread_locks.release("t")
    thread_locks.release("t")  # releasing twice is harmless
    assert thread_locks.try_acquire("t", OTHER) is None
    for t in ("t", "u"):
        thread_locks.release(t)
    assert locks.lock_file_path(db) not in lock_files._FILES  # nothing held: the descriptor is closed


def test_async_forms_match(db: Path) -> None:
    async def main() -> tuple[Any, Any]:
        thread_locks = locks.database_locks(db)
        first = await thread_locks.atry_acquire("t", locks.current_owner())
        second = await thread_locks.atry_acquire("t", OTHER)
        await thread_locks.arelease("t")
        return first, second

    first, second = asyncio.run(main())
    assert first is None and second is not None and second.owner is not None and second.owner.task is not None


def test_savers_map_to_their_files(db: Path, tmp_path: Path) -> None:
    one, two = checkpoints.sqlite_saver(db), checkpoints.sqlite_saver(db)
    assert locks.thread_locks_for(one) is locks.thread_locks_for(two) is locks.database_locks(db)  # one file, one set of locks
    assert locks.thread_locks_for(one).name == os.path.realpath(db)
    memory_file = checkpoints.sqlite_saver(":memory:")
    in_memory = checkpoints.memory_saver()
    for saver in (memory_file, in_memory):
        assert isinstance(locks.thread_locks_for(saver), locks.MemoryThreadLocks)
    assert locks.thread_locks_for(in_memory) is not locks.thread_locks_for(checkpoints.memory_saver())

    async def async_saver() -> str:
        saver = await checkpoints.async_sqlite_saver(tmp_path / "async.db")
        try:
            return (await locks.athread_locks_for(saver)).name
        finally:
            await checkpoints.close_saver(saver)

    assert asyncio.run(async_saver()) == os.path.realpath(tmp_path / "async.db")


def test_another_backend_plugs_in(db: Path) -> None:
    """The extension point: any ThreadLocks (Postgres advisory locks, say) attached to a saver is what runs use."""
    import lessonkit
    from tests.test_runs import SlowEcho, ask, config

    class Refusing(locks.MemoryThreadLocks):
        def try_acquire(self, thread_id: str, owner: locks.Owner) -> locks.Holder | None:
            return locks.Holder(pid=99999)

    saver = checkpoints.memory_saver()
    locks.use_thread_locks(saver, Refusing("the test's backend"))
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="")
    with pytest.raises(ThreadBusyError, match="thread 't' of the test's backend is busy: .* in process 99999"):
        graph.invoke(ask("hi"), config("t"))


# ---------------------------------------------------------------- across processes

def test_a_thread_held_by_another_process_names_its_pid_and_other_threads_stay_free(db: Path) -> None:
    proc = other_process(db, """
        assert locks.database_locks(db).try_acquire("a", locks.current_owner()) is None
    """)
    try:
        thread_locks = locks.database_locks(db)
        assert thread_locks.try_acquire("a", OTHER) == locks.Holder(proc.pid)
        assert thread_locks.try_acquire("b", OTHER) is None
        thread_locks.release("b")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert thread_locks.try_acquire("a", OTHER) is None  # the kernel let go when the holder died
    thread_locks.release("a")


def test_fresh_refuses_a_database_another_process_has_open_naming_its_pid(db: Path) -> None:
    proc = other_process(db, "hold = locks.hold_database(db)")
    try:
        with pytest.raises(DatabaseInUseError) as caught:
            with locks.exclusive_database(db):
                pytest.fail("wiped a database another process has open")
        assert caught.value.holder_pid == proc.pid and caught.value.path == str(db)
        assert f"process {proc.pid} has it open" in str(caught.value) and "another file name" in str(caught.value)
        copy = pickle.loads(pickle.dumps(caught.value))
        assert (str(copy), copy.holder_pid) == (str(caught.value), proc.pid)
    finally:
        finish(proc)
    with locks.exclusive_database(db):  # the holder is gone: now it can be wiped
        pass


def test_exclusive_goes_back_to_shared_for_this_process_savers(db: Path) -> None:
    saver = checkpoints.sqlite_saver(db)
    locks.register_saver_path(saver, db)  # what lessonkit's saver helpers do
    with locks.exclusive_database(db):  # this process's own savers do not block its wipe
        pass
    wiper = subprocess.run([sys.executable, "-c", f"from lessonkit.persistence import locks\nwith locks.exclusive_database({str(db)!r}): pass"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert f"DatabaseInUseError: cannot start {str(db)!r} fresh: process {os.getpid()} has it open" in wiper.stderr
    locks.release_saver(saver)  # closed: another process may wipe it now
    subprocess.run([sys.executable, "-c", f"from lessonkit.persistence import locks\nwith locks.exclusive_database({str(db)!r}): pass"],
                   cwd=ROOT, check=True, timeout=60)


def test_a_saver_the_garbage_collector_takes_lets_go_of_its_database(db: Path) -> None:
    path = locks.lock_file_path(db)
    saver = checkpoints.sqlite_saver(db)
    locks.register_saver_path(saver, db)
    assert lock_files._FILES[path].holds == 1
    saver.conn.close()
    del saver
    gc.collect()
    assert path not in lock_files._FILES  # nothing held: the descriptor is closed
    hold = locks.hold_database(db)
    with lock_files._MUTEX:  # a finalizer running while the tables are mid-change leaves them alone...
        hold.release_later()
        assert lock_files._FILES[path].holds == 1
    locks.database_locks(db)  # ...and the next change releases it on its way out
    assert path not in lock_files._FILES


def test_fresh_refuses_while_a_run_of_this_process_uses_the_database(db: Path) -> None:
    thread_locks = locks.database_locks(db)
    assert thread_locks.try_acquire("t", OTHER) is None
    with pytest.raises(DatabaseInUseError, match="a run in this process"):
        with locks.exclusive_database(db):
            pass
    thread_locks.release("t")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_does_not_inherit_the_parents_locks(db: Path) -> None:
    thread_locks = locks.database_locks(db)
    assert thread_locks.try_acquire("a", locks.current_owner()) is None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the kernel says the parent holds "a", not this process's table
        holder = thread_locks.try_acquire("a", locks.current_owner())
        os.write(write, str(holder.pid if holder else "none").encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    thread_locks.release("a")
    assert answer == str(os.getpid())
