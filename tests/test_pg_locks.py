"""One run per thread across processes on one Postgres database: lessonkit.persistence.pg_locks on a real server (issue 11)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest

from lessonkit import checkpoints as ck
from lessonkit.persistence import locks, runs
from lessonkit.errors import ThreadBusyError
from lessonkit.persistence.pg_locks import AdvisoryThreadLocks, advisory_key, application_name, key_parts
from lessonkit.postgres import _lock_session
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.test_checkpoints import ROOT, build_app, contents, say

ME, OTHER = locks.Owner(1), locks.Owner(2)


# ---------------------------------------------------------------- pure

def test_key_is_stable_signed_64_bit_and_split_as_pg_locks_shows_it():
    key = advisory_key("alice/t1")
    assert key == advisory_key("alice/t1") != advisory_key("alice/t2")
    assert -(2**63) <= key < 2**63
    high, low = key_parts(key)
    assert (high << 32 | low) == key & (2**64 - 1) and 0 <= high < 2**32 and 0 <= low < 2**32


def test_application_name_fits_postgres_limit():
    assert application_name(12, "h") == "lessonkit pid 12 on h"
    assert len(application_name(12, "é" * 80).encode()) <= 63


# ---------------------------------------------------------------- two sessions (two instances) on one database

def two_instances(url):
    return AdvisoryThreadLocks("a", _lock_session(url)), AdvisoryThreadLocks("b", _lock_session(url))


def test_second_instance_is_refused_and_told_who_holds_it(postgres_url):  # noqa: F811
    a, b = two_instances(postgres_url)
    try:
        assert a.try_acquire("t", ME) is None
        holder = b.try_acquire("t", OTHER)
        assert holder is not None and holder.owner is None
        assert holder.where == f"another instance ({application_name()})"
        assert b.try_acquire("u", OTHER) is None  # other threads are free
        a.release("t")
        assert b.try_acquire("t", OTHER) is None
        assert a.try_acquire("t", ME) is not None
    finally:
        a.close()
        b.close()


def test_same_process_tasks_exclude_each_other_although_advisory_locks_reenter(postgres_url):  # noqa: F811
    a, _ = two_instances(postgres_url)
    try:
        assert a.try_acquire("t", ME) is None
        assert a.try_acquire("t", OTHER) == locks.Holder(os.getpid(), ME)
        a.release("t")
        assert a.try_acquire("t", OTHER) is None
    finally:
        a.close()


def test_a_broken_lock_session_reconnects_and_takes_its_locks_back(postgres_url):  # noqa: F811
    a, b = two_instances(postgres_url)
    try:
        assert a.try_acquire("t", ME) is None
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # what a Postgres restart does to the session
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                          "AND pid <> pg_backend_pid()", (application_name(),))
        time.sleep(0.2)
        assert a.try_acquire("u", ME) is None  # reconnected; "t" taken back on the new session
        assert b.try_acquire("t", OTHER) is not None
        a.release("t")
        assert b.try_acquire("t", OTHER) is None
    finally:
        a.close()
        b.close()


def test_a_cancelled_async_try_never_leaks_the_lock(postgres_url):  # noqa: F811
    a, b = two_instances(postgres_url)

    async def main():
        attempt = asyncio.ensure_future(a.atry_acquire("t", ME))
        await asyncio.sleep(0)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        for _ in range(200):  # the lock taken meanwhile goes back in the background
            if b.try_acquire("t", OTHER) is None:
                return True
            await asyncio.sleep(0.01)
        return False

    try:
        assert asyncio.run(main())
        assert a.held == {}
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- real processes, through the saver

HOLDER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from lessonkit import checkpoints as ck
    from lessonkit.persistence import runs
    saver = ck.postgres_saver({url!r})
    with runs.thread_run(saver, "shared"):
        print("held", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    sys.stdin.readline()
""")


def holder_process(url):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT), url=url)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def test_a_run_in_another_process_refuses_then_enqueue_waits_for_it(postgres_url):  # noqa: F811
    saver = ck.postgres_saver(postgres_url)
    proc = holder_process(postgres_url)
    try:
        app = runs.guard(build_app(saver))
        with pytest.raises(ThreadBusyError, match=r"thread 'shared' of postgres .* is busy: .* in another instance "
                                                  rf"\(lessonkit pid {proc.pid} on "):
            say(app, "shared", "fork me")
        assert ck.list_threads(saver) == []  # the refused turn wrote nothing

        def let_go():
            time.sleep(0.5)
            proc.stdin.write("\n")
            proc.stdin.flush()

        import threading
        threading.Thread(target=let_go).start()
        started = time.monotonic()
        with runs.thread_run(saver, "shared", multitask="enqueue", timeout=30):
            waited = time.monotonic() - started
        assert waited >= 0.4
        assert contents(say(app, "shared", "after")) == ["after", "echo: after"]
    finally:
        proc.kill()
        proc.wait()
        ck.close_postgres_saver(saver)


def test_a_killed_holder_frees_the_thread(postgres_url):  # noqa: F811
    saver = ck.postgres_saver(postgres_url)
    proc = holder_process(postgres_url)
    try:
        with pytest.raises(ThreadBusyError):
            say(runs.guard(build_app(saver)), "shared", "x")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with runs.thread_run(saver, "shared", multitask="enqueue", timeout=10):
            pass  # Postgres ended the dead process's session, and its lock with it
    finally:
        ck.close_postgres_saver(saver)
