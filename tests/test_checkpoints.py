"""Tests for lessonkit.checkpoints: real SQLite files, real subprocesses, a tiny real graph."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from lessonkit import checkpoints as ck
from lessonkit.persistence import sqlite_savers
from lessonkit.errors import CheckpointPathError, LessonkitError, ThreadNotFoundError
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures: the postgres saver case)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def echo(state: State) -> dict:
    return {"messages": [AIMessage(f"echo: {state['messages'][-1].content}")]}


def build_app(saver):
    g = StateGraph(State)
    g.add_node("echo", echo)
    g.add_edge(START, "echo")
    g.add_edge("echo", END)
    return g.compile(checkpointer=saver)


def cfg(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


def say(app, thread_id: str, text: str) -> list:
    return app.invoke({"messages": [HumanMessage(text)]}, cfg(thread_id))["messages"]


def contents(messages) -> list[str]:
    return [m.content for m in messages]


PRELUDE = f"""
import asyncio, json, sys
sys.path[:0] = [{str(ROOT)!r}, {str(TESTS)!r}]
from langchain_core.messages import HumanMessage
from lessonkit import checkpoints as ck
from test_checkpoints import build_app, cfg, say, contents
"""


def script(body: str) -> list[str]:
    return [sys.executable, "-c", PRELUDE + textwrap.dedent(body)]


def run_script(body: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(script(body), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc


# ---------------------------------------------------------------- persistence across processes

def test_file_thread_survives_restart(tmp_path):
    db = str(tmp_path / "chat.db")
    first = run_script(f"""
        app = build_app(ck.sqlite_saver({db!r}))
        print(json.dumps(contents(say(app, "t1", "turn 1"))))
    """)
    assert json.loads(first.stdout) == ["turn 1", "echo: turn 1"]

    second = run_script(f"""
        app = build_app(ck.sqlite_saver({db!r}))  # a brand-new process and saver
        print(json.dumps(contents(say(app, "t1", "turn 2"))))
    """)
    expected = ["turn 1", "echo: turn 1", "turn 2", "echo: turn 2"]
    assert json.loads(second.stdout) == expected
    assert contents(ck.thread_messages(ck.sqlite_saver(db), "t1")) == expected


def test_sync_writer_async_reader(tmp_path):
    db = str(tmp_path / "chat.db")
    run_script(f"""
        say(build_app(ck.sqlite_saver({db!r})), "t1", "written sync")
    """)

    async def main():
        saver = await ck.async_sqlite_saver(db)
        try:
            before = contents(await ck.athread_messages(saver, "t1"))
            app = build_app(saver)
            out = await app.ainvoke({"messages": [HumanMessage("read async")]}, cfg("t1"))
            state = await app.aget_state(cfg("t1"))
            return before, contents(out["messages"]), contents(state.values["messages"])
        finally:
            await ck.close_saver(saver)

    before, after, state = asyncio.run(main())
    assert before == ["written sync", "echo: written sync"]
    assert after == state == before + ["read async", "echo: read async"]
    # and the sync side sees what the async saver wrote
    assert len(ck.thread_messages(ck.sqlite_saver(db), "t1")) == 4


def test_threads_are_isolated(tmp_path):
    app = build_app(ck.sqlite_saver(tmp_path / "chat.db"))
    say(app, "t1", "secret for t1")
    out = say(app, "t2", "hello from t2")
    assert contents(out) == ["hello from t2", "echo: hello from t2"]
    assert "secret for t1" not in contents(ck.thread_messages(app.checkpointer, "t2"))


# ---------------------------------------------------------------- inspection helpers

@pytest.fixture(params=["memory", "sqlite", "postgres"])
def saver(request, tmp_path):
    if request.param == "memory":
        yield ck.memory_saver()
        return
    if request.param == "postgres":  # a fresh database on the run's throwaway cluster (tests/postgres_server.py)
        s = ck.postgres_saver(request.getfixturevalue("postgres_url"))
        yield s
        ck.close_postgres_saver(s)
        return
    s = ck.sqlite_saver(tmp_path / "chat.db")
    yield s
    ck.close_sync_saver(s)


def test_list_messages_history_delete(saver):
    app = build_app(saver)
    say(app, "t1", "a")
    say(app, "t1", "b")
    say(app, "t2", "only t2")
    say(app, "T0", "capital first")  # byte order, as SQLite sorts (not a locale's collation)

    assert ck.list_threads(saver) == ["T0", "t1", "t2"]
    assert contents(ck.thread_messages(saver, "t1")) == ["a", "echo: a", "b", "echo: b"]

    hist = ck.thread_history(saver, "t1")
    assert [h.step for h in hist] == [-1, 0, 1, 2, 3, 4]
    assert [h.source for h in hist] == ["input", "loop", "loop", "input", "loop", "loop"]
    assert [h.writes for h in hist] == [(), ("__start__",), ("echo",), (), ("__start__",), ("echo",)]
    assert [h.message_count for h in hist] == [0, 1, 2, 2, 3, 4]
    assert hist[0].parent_id is None
    assert [h.parent_id for h in hist[1:]] == [h.checkpoint_id for h in hist[:-1]]
    with pytest.raises(Exception):  # frozen
        hist[0].step = 99  # type: ignore[misc]

    ck.delete_thread(saver, "t1")
    assert ck.list_threads(saver) == ["T0", "t2"]
    assert contents(ck.thread_messages(saver, "t2")) == ["only t2", "echo: only t2"]

    for call in (ck.thread_messages, ck.thread_history, ck.delete_thread):
        with pytest.raises(ThreadNotFoundError) as err:
            call(saver, "t1")
        assert "'t1'" in str(err.value) and "'t2'" in str(err.value)
        assert err.value.thread_id == "t1" and err.value.known_threads == ["T0", "t2"]
        assert isinstance(err.value, KeyError) and isinstance(err.value, LessonkitError)
        assert not str(err.value).startswith('"')  # not KeyError's repr-quoting


def test_sync_helper_rejects_async_saver(tmp_path):
    async def main():
        saver = await ck.async_sqlite_saver(tmp_path / "chat.db")
        try:
            with pytest.raises(TypeError, match="alist_threads"):
                ck.list_threads(saver)
        finally:
            await ck.close_saver(saver)
        assert saver.conn not in sqlite_savers._OPEN_ASYNC

    asyncio.run(main())


def test_memory_db_path_works():
    saver = ck.sqlite_saver(":memory:")
    say(build_app(saver), "m", "hi")
    assert ck.list_threads(saver) == ["m"]


# ---------------------------------------------------------------- bad paths

def test_bad_paths_raise_checkpoint_path_error(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a sqlite database at all" * 100)
    bad = [tmp_path / "missing" / "x.db", afile / "x.db", tmp_path, garbage]
    for path in bad:
        with pytest.raises(CheckpointPathError) as err:
            ck.sqlite_saver(path)
        assert str(path) in str(err.value)
        with pytest.raises(CheckpointPathError, match="(?i)path"):
            asyncio.run(ck.async_sqlite_saver(path))
    assert "create the folder" in str(
        pytest.raises(CheckpointPathError, ck.sqlite_saver, tmp_path / "missing" / "x.db").value).lower()
    assert not (tmp_path / "missing").exists()  # no folders are created behind the user's back


# ---------------------------------------------------------------- process exit and concurrency

def test_unclosed_async_saver_does_not_hang_exit(tmp_path):
    db = str(tmp_path / "chat.db")
    proc = run_script(f"""
        from langchain_core.messages import HumanMessage
        async def main():
            global saver  # kept alive at module level, never closed: the notebook case
            saver = await ck.async_sqlite_saver({db!r})
            app = build_app(saver)
            out = await app.ainvoke({{"messages": [HumanMessage("bye")]}}, cfg("x"))
            print(len(out["messages"]))
        asyncio.run(main())
    """, timeout=20)
    assert proc.stdout.strip() == "2"
    assert contents(ck.thread_messages(ck.sqlite_saver(db), "x")) == ["bye", "echo: bye"]


def test_two_processes_write_one_file(tmp_path):
    db = str(tmp_path / "shared.db")
    turns = 30
    body = """
        app = build_app(ck.sqlite_saver({db!r}))
        for i in range({turns}):
            say(app, {tid!r}, f"{{i}}")
        print("done")
    """
    procs = [subprocess.Popen(script(body.format(db=db, turns=turns, tid=tid)), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tid in ("w1", "w2")]
    results = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert "database is locked" not in err
        assert p.returncode == 0, err
        assert out.strip() == "done"
    saver = ck.sqlite_saver(db)
    assert ck.list_threads(saver) == ["w1", "w2"]
    for tid in ("w1", "w2"):
        msgs = contents(ck.thread_messages(saver, tid))
        assert len(msgs) == 2 * turns
        assert msgs[-2:] == [f"{turns - 1}", f"echo: {turns - 1}"]
