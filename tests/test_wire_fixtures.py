"""Replay of real OpenAI traffic (../shared/fixtures/openai-wire): live once, record, replay offline, compare.

Each of the 50 captured responses is served from a local server exactly as OpenAI sent it. The
message LangChain builds from replay must equal the one it built from the live answer.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from lessonkit.harness.recording import Cassette, RecordingTransport, ReplayTransport
from tests.conftest import SHARED
from tests.openai_server import LocalServer

WIRE = SHARED / "fixtures" / "openai-wire" / "chat-completions.jsonl"
LINES = [json.loads(line) for line in WIRE.read_text().splitlines()] if WIRE.exists() else []
SKIP_REASON = f"{WIRE} not found: the real-traffic fixtures live in ../shared (present in CI)"


def outcome(model: ChatOpenAI, streamed: bool) -> dict[str, Any]:
    """What LangChain made of the answer: the message (per chunk when streamed) or the error."""
    try:
        if streamed:
            chunks = list(model.stream([HumanMessage("fixture")]))
            return {"chunks": [c.model_dump(exclude={"id"}) for c in chunks]}
        return {"message": model.invoke([HumanMessage("fixture")]).model_dump(exclude={"id"})}
    except openai.APIStatusError as err:
        return {"error": type(err).__name__, "status": err.status_code, "text": str(err), "body": err.body}


def client(line: dict[str, Any], base_url: str, transport: Any = None) -> ChatOpenAI:
    request = line["request"]
    usage = bool((request.get("stream_options") or {}).get("include_usage"))
    extra: dict[str, Any] = {}
    if transport is not None:
        extra = {"http_client": httpx.Client(transport=transport)}
    return ChatOpenAI(model=request["model"], api_key="replay-mode-no-key", base_url=base_url, stream_usage=usage, max_retries=0, **extra)


@pytest.mark.skipif(not LINES, reason=SKIP_REASON)
@pytest.mark.parametrize("n", range(len(LINES)) if LINES else [0])
def test_real_openai_response_replays_identically(n: int, tmp_path: Path) -> None:
    line = LINES[n]
    streamed = line["content_type"].startswith("text/event-stream")
    parts = [line["body"].encode()]
    server = LocalServer(lambda path, body: (line["status"], line["content_type"], parts))
    try:
        live = outcome(client(line, server.url), streamed)  # straight to the server, no lessonkit
        cassette = Cassette(tmp_path / "wire.json")
        recorded = outcome(client(line, server.url, RecordingTransport(cassette)), streamed)
    finally:
        server.stop()
    replayed = outcome(client(line, server.url, ReplayTransport(Cassette(tmp_path / "wire.json"))), streamed)

    assert recorded == live
    assert replayed == live
    stored = json.loads((tmp_path / "wire.json").read_text())["interactions"]
    assert len(stored) == 1 and stored[0]["response"]["status"] == line["status"]
    if line["status"] == 200:
        assert stored[0]["response"]["chunks"], "the response kept its chunks"


def test_fixtures_cover_errors_and_streamed_tool_calls() -> None:
    """The cases that matter most are really in the data (its README counts 13 streams; the file has 14)."""
    if not LINES:
        pytest.skip(SKIP_REASON)
    streams = [l for l in LINES if l["content_type"].startswith("text/event-stream")]
    assert len(LINES) == 50
    assert [l["status"] for l in LINES].count(400) == 1
    assert len(streams) >= 13
    assert sum(1 for l in streams if '"tool_calls"' in l["body"]) >= 2
