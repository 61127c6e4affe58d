"""Two real ``lessonkit serve`` processes on one real Postgres (issue 11): shared threads, one run per thread
between them, a database that goes away mid-run, and bad URLs.

The instances replay at speed 1 an authored three-turn conversation whose answers start ``SLOW_S`` after the
request, so a run is reliably still in progress when the test sends the next request or stops the database.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script
from lessonkit.serve.instances import start_instance
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.serve.sse_client import read_events, types

NAME = "pg_serve"
QUESTIONS = ["First question?", "Second question?", "Third question?"]
ANSWERS = ["First answer.", "Second answer.", "Third answer."]
SLOW_S = 2.0


def record(folder: Path) -> Path:
    replies = [Reply(content=a, first_token_s=SLOW_S, chunk_interval_s=0.01) for a in ANSWERS]
    lesson = lessonkit.Lesson(NAME, "record", 0.0, Cassette(folder / f"{NAME}.json"), script=Script(replies=replies))
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    for question in QUESTIONS:
        graph.invoke({"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": "rec"}})
    return folder


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    return record(tmp_path_factory.mktemp("pg_serve"))


def instance(url, recordings, speed=1.0):
    return start_instance(database=url, recordings=recordings, lesson=NAME, speed=speed)


def turn(base, thread, message, **body):
    with httpx.Client(base_url=base, timeout=60) as client, \
            client.stream("POST", f"/threads/{thread}/runs/stream", json={"message": message, **body}) as response:
        if response.status_code != 200:
            return response.status_code, json.loads(response.read())
        return 200, read_events(response)


def questions_in(url, thread):
    saver = checkpoints.postgres_saver(url)
    try:
        return [m.content for m in checkpoints.thread_messages(saver, f"local/{thread}") if m.type == "human"]
    finally:
        checkpoints.close_postgres_saver(saver)


def in_background(fn, *args, **kwargs):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", fn(*args, **kwargs)), daemon=True)
    worker.start()
    return worker, box


def test_two_instances_share_threads_and_never_fork_one(postgres_url, recordings):  # noqa: F811
    with instance(postgres_url, recordings) as a, instance(postgres_url, recordings) as b:
        # a client alternating between the instances continues one conversation
        status, (events, done) = turn(a.url, "alt", QUESTIONS[0])
        assert status == 200 and done and "".join(e["content"] for _, e in events if e["type"] == "token") == ANSWERS[0]
        status, (events, done) = turn(b.url, "alt", QUESTIONS[1])
        assert status == 200 and done and "".join(e["content"] for _, e in events if e["type"] == "token") == ANSWERS[1]
        history = httpx.get(f"{a.url}/threads/alt/state", timeout=30).json()
        assert [m["content"] for m in history["values"]["messages"]] == [QUESTIONS[0], ANSWERS[0], QUESTIONS[1], ANSWERS[1]]

        # a run on A, and a second run on the same thread on B: 409 naming the other instance
        worker, box = in_background(turn, a.url, "race", QUESTIONS[0])
        time.sleep(SLOW_S / 2)
        status, body = turn(b.url, "race", QUESTIONS[1])
        assert status == 409, body
        assert "is busy" in body["detail"] and "another instance (lessonkit pid " in body["detail"]
        assert str(a.process.pid) in body["detail"]
        # ... or B waits for its turn with enqueue, and both land in order
        queued = turn(b.url, "race", QUESTIONS[1], multitask="enqueue")
        worker.join(timeout=60)
        assert box["result"][0] == 200 and queued[0] == 200
        assert types(queued[1][0])[-1] == "end"
        assert questions_in(postgres_url, "race") == QUESTIONS[:2]


def test_database_gone_mid_run_is_a_clear_error_and_the_next_turn_works(postgres_server, recordings):  # noqa: F811
    url = postgres_server.create_database()
    with instance(url, recordings) as a:
        assert turn(a.url, "t", QUESTIONS[0])[0] == 200
        with httpx.Client(base_url=a.url, timeout=60) as client, \
                client.stream("POST", "/threads/t/runs/stream", json={"message": QUESTIONS[1]}) as response:
            assert response.status_code == 200
            from httpx_sse import EventSource
            sses = EventSource(response).iter_sse()
            first = json.loads(next(s for s in sses if s.data).data)
            assert first["type"] == "metadata"  # the run holds its lock and has saved its input
            postgres_server.stop("fast")
            try:
                events, done = read_events(sses)
            finally:
                postgres_server.start()
        assert done
        error = events[-1][1]
        assert error["type"] == "error" and error["error"] == "database_unavailable", events[-3:]
        assert "went away during this run" in error["message"] and "every earlier turn is kept" in error["message"]
        assert postgres_server.password not in error["message"]
        # back: nothing committed is lost (the first turn, and the question the failed run saved before it failed),
        # and the next turn works on the same instance, with no restart of the server
        assert questions_in(url, "t") in (QUESTIONS[:1], QUESTIONS[:2])  # the question too, if its checkpoint made it
        status, (events, done) = turn(a.url, "u", QUESTIONS[0])
        assert status == 200 and done and types(events)[-1] == "end", events[-2:]
        assert questions_in(url, "u") == QUESTIONS[:1]


def serve_cli(env_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LESSONKIT_DATABASE_URL"}
    if env_url is not None:
        env["LESSONKIT_DATABASE_URL"] = env_url
    return subprocess.run([sys.executable, "-m", "lessonkit", "serve", "--port", "1", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_wrong_password_or_url_stops_serve_before_it_binds_naming_the_host_only(postgres_server):  # noqa: F811
    wrong = "Wrong-pw-" + "4711"
    done = serve_cli(postgres_server.url("postgres", password=wrong))
    assert done.returncode == 2
    assert f"lessonkit@127.0.0.1:{postgres_server.port}/postgres" in done.stderr
    assert "password authentication failed" in done.stderr
    assert wrong not in done.stderr + done.stdout and "Traceback" not in done.stderr
    done = serve_cli(None, "--database", "mysql://u:p@h/db")
    assert done.returncode == 2 and "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in done.stderr


def test_choose_database_flag_then_environment_then_per_user_file(tmp_path):
    from lessonkit.serve.lesson_app import choose_database, default_database, describe_database
    url = "postgresql://u:pw-" + "secret1@db.example:5433/class"
    assert choose_database(None, {}) == default_database()
    assert choose_database(None, {"LESSONKIT_DATABASE_URL": url}) == url
    assert choose_database(tmp_path / "x.db", {"LESSONKIT_DATABASE_URL": url}) == tmp_path / "x.db"
    assert choose_database("postgres://u@h/db", {}) == "postgres://u@h/db"
    assert describe_database(url) == "u@db.example:5433/class"
    with pytest.raises(ValueError, match="not a database lessonkit serve knows"):
        choose_database("sqlite:///x.db", {})
