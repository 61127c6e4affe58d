"""The lesson agent with approve_tools=True: the interrupt over a WebSocket (approve) and over SSE (reject)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from lessonkit.serve.lesson_app import LessonServe, create_lesson_app
from lessonkit.serve.settings import ServeSettings

from .conftest import Served, serve
from .lesson_recording import ANSWER, QUESTION, REJECTED, record
from .sse_client import stream, types


@pytest.fixture(scope="module")
def served(module_tmp: Path):
    folder = record(module_tmp / "recordings")
    app = create_lesson_app(LessonServe(mode="replay", speed=0, database=module_tmp / "serve.db", approve_tools=True),
                            ServeSettings(recordings_dir=folder))
    with serve(app) as running:
        yield running


async def _until_terminal(socket: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(500):
        out.append(json.loads(await asyncio.wait_for(socket.recv(), 20)))
        if out[-1]["type"] in ("end", "error"):
            break
    return out


def test_websocket_interrupt_approved_with_resume(served: Served) -> None:
    async def talk() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        async with websockets.connect(f"{served.ws_url}/threads/ws-approve/ws", open_timeout=10) as socket:
            await socket.send(json.dumps({"type": "message", "message": QUESTION}))
            paused = await _until_terminal(socket)
            await socket.send(json.dumps({"type": "resume", "resume": "approve"}))
            resumed = await _until_terminal(socket)
            await socket.send(json.dumps({"type": "resume", "resume": "approve"}))  # nothing left to answer
            refused = json.loads(await asyncio.wait_for(socket.recv(), 20))
            return paused, resumed, refused

    paused, resumed, refused = asyncio.run(talk())
    assert [e["type"] for e in paused] == ["metadata", "tool_call", "interrupt", "end"]
    assert paused[-1]["status"] == "interrupted"
    assert paused[2]["value"]["tool_calls"][0]["name"] == "tavily_search"
    assert resumed[0]["type"] == "metadata" and resumed[0]["resume"] is True
    assert "tool_result" in [e["type"] for e in resumed] and resumed[-1]["status"] == "done"
    assert "".join(e["content"] for e in resumed if e["type"] == "token") == ANSWER
    assert refused["type"] == "error" and refused["run_id"] is None and refused["error"] == "busy"


def test_sse_interrupt_rejected_with_resume(served: Served) -> None:
    with served.client() as client:
        paused, done = stream(client, "sse-reject", message=QUESTION)
        assert done and types(paused)[-2:] == ["interrupt", "end"] and paused[-1][1]["status"] == "interrupted"
        assert client.get("/threads/sse-reject/state").json()["interrupts"][0]["value"]["question"] == "Run these tool calls?"
        resumed, done = stream(client, "sse-reject", resume="reject")
    result = next(e for _, e in resumed if e["type"] == "tool_result")  # the rejection, as the model reads it
    assert done and result["status"] == "error" and "rejected" in result["content"]
    assert "".join(e["content"] for _, e in resumed if e["type"] == "token") == REJECTED


def test_bad_websocket_messages_get_an_error_and_the_socket_stays_open(served: Served) -> None:
    async def talk() -> list[dict[str, Any]]:
        async with websockets.connect(f"{served.ws_url}/threads/ws-bad/ws", open_timeout=10) as socket:
            replies = []
            for frame in ("not json", json.dumps({"type": "dance"}), json.dumps({"type": "cancel"})):
                await socket.send(frame)
                replies.append(json.loads(await asyncio.wait_for(socket.recv(), 20)))
            return replies

    replies = asyncio.run(talk())
    assert [r["error"] for r in replies] == ["bad_request", "bad_request", "no_run"]


def test_a_bad_thread_id_closes_the_websocket_with_the_reason(served: Served) -> None:
    async def talk() -> Any:
        try:
            async with websockets.connect(f"{served.ws_url}/threads/bad%20id/ws", open_timeout=10) as socket:
                await socket.recv()
        except Exception as error:  # noqa: BLE001 - the rejection is the point
            return error
        return None

    error = asyncio.run(talk())
    assert error is not None
