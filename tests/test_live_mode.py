"""Live mode end to end, against a local OpenAI-compatible server instead of api.openai.com.

Live mode is the plain ChatOpenAI with the student's key and no lessonkit transport; pointing
``OPENAI_BASE_URL`` at 127.0.0.1 runs exactly that code path without a real key or network.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from tests.openai_server import LocalServer, echo_responder
from tests.test_faults import error_body


def live_lesson(server: LocalServer, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> lessonkit.Lesson:
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    return lessonkit.start("live_check", mode="live", recordings_dir=tmp_path / "recordings", announce=False)


async def turns(lesson: lessonkit.Lesson, db: Path, questions: list[str]) -> tuple[list[Any], Dashboard, list[Any]]:
    """Ask the questions on one thread of a SQLite file through a dashboard; return reports and the thread."""
    saver = await checkpoints.async_sqlite_saver(db)
    graph = lessonkit.build_agent(lesson.chat_model(max_retries=0), [], checkpointer=saver, system="Be brief.")
    config = {"configurable": {"thread_id": "live"}}
    dash, reports = Dashboard(), []
    try:
        for question in questions:
            reports.append(await dash.run(graph, {"messages": [HumanMessage(question)]}, config))
    finally:
        messages = (await graph.aget_state(config)).values.get("messages", [])
        await checkpoints.close_saver(saver)
    return reports, dash, messages


def test_live_mode_streams_with_the_students_key_and_records_nothing(server: LocalServer, fake_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lesson = live_lesson(server, fake_key, tmp_path, monkeypatch)
    reports, dash, messages = asyncio.run(turns(lesson, tmp_path / "live.db", ["hello there", "and again"]))

    assert [r.status for r in reports] == ["done", "done"]
    assert "You said: hello there" in reports[0].transcript and "You said: and again" in reports[1].transcript
    assert [m.content for m in messages] == ["hello there", "You said: hello there", "and again", "You said: and again"]
    assert [s.headers["authorization"] for s in server.seen] == [f"Bearer {fake_key}"] * 2  # the key went upstream...
    assert all(s.body["stream"] for s in server.seen)  # ...on the streaming path the dashboard reads
    assert len(server.seen[1].body["messages"]) == 4  # system + first turn + new question: the thread's memory
    assert not (tmp_path / "recordings").exists()  # live mode records nothing


def test_live_mode_with_a_wrong_key_says_what_to_set_and_keeps_the_thread(fake_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused: list[bool] = []

    def respond(path: str, body: dict[str, Any]) -> Any:
        if refused:
            return 401, "application/json", [error_body(401, "Incorrect API key provided: sk-proj-***.", "invalid_request_error")]
        return echo_responder(path, body)

    server = LocalServer(respond)
    try:
        lesson = live_lesson(server, fake_key, tmp_path, monkeypatch)
        db = tmp_path / "live.db"
        asyncio.run(turns(lesson, db, ["first question"]))
        refused.append(True)  # the key is revoked between turns
        with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
            asyncio.run(turns(lesson, db, ["second question"]))
        dash = Dashboard()
        graph = lessonkit.build_agent(lesson.chat_model(max_retries=0), [], system="Be brief.")
        with pytest.raises(openai.AuthenticationError):
            asyncio.run(dash.run(graph, {"messages": [HumanMessage("hi")]}))
    finally:
        server.stop()

    assert "the API key was refused (401): check OPENAI_API_KEY in .env" in dash.status.value
    saver = checkpoints.sqlite_saver(db)
    kept = [m.content for m in checkpoints.thread_messages(saver, "live")]
    checkpoints.close_sync_saver(saver)
    assert kept == ["first question", "You said: first question", "second question"]  # the saved turn survived; the failed turn's question is kept
