"""The thread helpers on SQLite and on a real Postgres (issue 11): one set of tests, both savers (the list,
messages, history and delete test is tests/test_checkpoints.py::test_list_messages_history_delete, on every saver).

Postgres comes from tests/postgres_server.py (a throwaway cluster from the system's binaries): without them the
Postgres cases skip saying why and how to install them; under CI=true they fail.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from langchain_core.messages import HumanMessage

from lessonkit import checkpoints as ck
from lessonkit.errors import LessonkitError, ThreadNotFoundError
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.test_checkpoints import ROOT, build_app, cfg, contents, say

KINDS = ["sqlite", "postgres"]


@pytest.fixture(params=KINDS)
def store(request, tmp_path):
    """Where a saver keeps its threads: a SQLite file, or a fresh Postgres database (its URL)."""
    if request.param == "sqlite":
        return "sqlite", tmp_path / "chat.db"
    return "postgres", request.getfixturevalue("postgres_url")


def open_sync(store):
    kind, where = store
    return ck.sqlite_saver(where) if kind == "sqlite" else ck.postgres_saver(where)


def close_sync(saver):
    if isinstance(saver, ck.SqliteSaver):
        ck.close_sync_saver(saver)
    else:
        ck.close_postgres_saver(saver)


async def open_async(store):
    kind, where = store
    return await (ck.async_sqlite_saver(where) if kind == "sqlite" else ck.async_postgres_saver(where))


def test_threads_survive_a_new_saver(store):
    first = open_sync(store)
    try:
        say(build_app(first), "keep", "remember me")
    finally:
        close_sync(first)
    second = open_sync(store)  # setup() again on an existing database: no error, nothing lost
    try:
        assert ck.list_threads(second) == ["keep"]
        assert contents(say(build_app(second), "keep", "again")) == [
            "remember me", "echo: remember me", "again", "echo: again"]
    finally:
        close_sync(second)


def test_async_helpers(store):
    async def main():
        saver = await open_async(store)
        try:
            app = build_app(saver)
            for tid, text in [("b", "x"), ("a", "y"), ("b", "z")]:
                await app.ainvoke({"messages": [HumanMessage(text)]}, cfg(tid))
            threads = await ck.alist_threads(saver)
            msgs = contents(await ck.athread_messages(saver, "b"))
            hist = await ck.athread_history(saver, "b")
            await ck.adelete_thread(saver, "b")
            after = await ck.alist_threads(saver)
            with pytest.raises(ThreadNotFoundError, match="'b'.*'a'"):
                await ck.athread_messages(saver, "b")
            with pytest.raises(ThreadNotFoundError):
                await ck.adelete_thread(saver, "b")
            with pytest.raises(TypeError, match="alist_threads"):
                ck.list_threads(saver)
            return threads, msgs, hist, after
        finally:
            await ck.close_saver(saver)  # either kind

    threads, msgs, hist, after = asyncio.run(main())
    assert threads == ["a", "b"]
    assert msgs == ["x", "echo: x", "z", "echo: z"]
    assert [h.step for h in hist] == [-1, 0, 1, 2, 3, 4]
    assert [h.writes for h in hist][-1] == ("echo",)
    assert after == ["a"]


def test_async_helpers_accept_sync_saver(store):
    saver = open_sync(store)
    try:
        say(build_app(saver), "s", "hi")

        async def main():
            return (await ck.alist_threads(saver), contents(await ck.athread_messages(saver, "s")),
                    len(await ck.athread_history(saver, "s")))
        assert asyncio.run(main()) == (["s"], ["hi", "echo: hi"], 3)
        asyncio.run(ck.adelete_thread(saver, "s"))
        assert ck.list_threads(saver) == []
    finally:
        close_sync(saver)


# ---------------------------------------------------------------- Postgres only

def test_wrong_password_names_host_not_password(postgres_server):  # noqa: F811
    wrong = "not-the-Secret-pw-42"
    url = postgres_server.url("postgres", password=wrong)
    texts = []
    for attempt in (lambda: ck.postgres_saver(url), lambda: asyncio.run(ck.async_postgres_saver(url))):
        with pytest.raises(LessonkitError) as err:
            attempt()
        text = str(err.value)
        assert "127.0.0.1" in text and str(postgres_server.port) in text
        assert "password authentication failed" in text
        assert wrong not in text and postgres_server.password not in text
        assert err.value.__cause__ is None and err.value.__suppress_context__
        texts.append(text)
    assert texts[0] == texts[1]  # one setup body: the async form says exactly what the sync one says


def test_unreachable_server_is_a_clear_error(postgres_server):  # noqa: F811
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://lessonkit:pw-{port}-secret@127.0.0.1:{port}/nowhere"
    with pytest.raises(LessonkitError, match=rf"127\.0\.0\.1:{port}/nowhere") as err:
        ck.postgres_saver(url)
    assert f"pw-{port}-secret" not in str(err.value)


def test_unclosed_savers_do_not_hang_exit(postgres_url):  # noqa: F811
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        from lessonkit import checkpoints as ck
        from tests.test_checkpoints import build_app, say
        saver = ck.postgres_saver({postgres_url!r})  # never closed: the notebook case
        say(build_app(saver), "x", "bye")
        async def main():
            global asaver
            asaver = await ck.async_postgres_saver({postgres_url!r})
            print(await ck.alist_threads(asaver))
        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['x']"


def test_processes_setting_up_one_new_database_at_once_do_not_deadlock(postgres_server):  # noqa: F811
    """setup() runs CREATE INDEX CONCURRENTLY; a blocking advisory lock in another session deadlocked it."""
    url = postgres_server.create_database()
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from lessonkit import postgres
        postgres.check_database({url!r})
        print("ready")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert all(out.strip() == "ready" for out, _ in results)
