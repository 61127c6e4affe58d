"""One recording serves both forms, and replay pacing follows the recorded offsets."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall
from lessonkit.harness.recording import transports

ANSWER = "San Francisco is mild today, around 18°C with a light breeze."


def script() -> Script:
    return Script(replies=[Reply(tool_calls=(ScriptedCall("tavily_search", {"query": "sf weather"}, "call_1"),)), Reply(content=ANSWER)],
                  searches=[], note="forms test")


def record_with_invoke(tmp_path: Path) -> Path:
    """Record the agent's turn through graph.invoke: the node's model call is *not* streamed."""
    rec = tmp_path / "rec"
    s = script()
    from lessonkit.harness.recording.authoring import SearchReply

    s.searches.append(SearchReply("sf weather", {"query": "sf weather", "results": [{"title": "t", "url": "u", "content": "18C", "score": 1.0}]}))
    lesson = lessonkit.Lesson("forms", "record", 0.0, Cassette(rec / "forms.json"), script=s)
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    graph.invoke({"messages": [HumanMessage("weather in sf?")]}, {"configurable": {"thread_id": "1"}})
    return rec


def test_recorded_under_invoke_streams_token_by_token_under_messages_mode(tmp_path: Path) -> None:
    rec = record_with_invoke(tmp_path)
    lesson = lessonkit.start("forms", mode="replay", recordings_dir=rec, announce=False)
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    pieces = [
        chunk.content
        for chunk, meta in graph.stream({"messages": [HumanMessage("weather in sf?")]}, {"configurable": {"thread_id": "1"}}, stream_mode="messages")
        if meta["langgraph_node"] == "llm" and chunk.content
    ]
    assert "".join(pieces) == ANSWER
    assert len(pieces) == len(ANSWER.split())  # arrives in pieces, as it was recorded


def test_recorded_streaming_serves_a_plain_invoke(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    lesson = lessonkit.Lesson("forms", "record", 0.0, Cassette(rec / "forms.json"), script=Script(replies=[Reply(content=ANSWER)]))
    streamed = list(lesson.chat_model().stream([HumanMessage("hi")]))
    assert "".join(c.content for c in streamed) == ANSWER
    replayed = lessonkit.start("forms", mode="replay", recordings_dir=rec, announce=False).chat_model().invoke([HumanMessage("hi")])
    assert replayed.content == ANSWER
    assert replayed.usage_metadata and replayed.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("speed", [0.0, 0.5, 1.0])
def test_pacing_waits_the_recorded_offsets_times_speed(tmp_path: Path, speed: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked with a fake clock: pacing is arithmetic on recorded offsets, not a wall-clock race."""
    rec = tmp_path / "rec"
    lesson = lessonkit.Lesson("p", "record", 0.0, Cassette(rec / "p.json"), script=Script(replies=[Reply(content=ANSWER)]))
    lesson.chat_model().invoke("hi")
    offsets = [c["t"] for c in Cassette(rec / "p.json").interactions[0]["response"]["chunks"]]

    now = [0.0]
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async def fake_asleep(seconds: float) -> None:
        fake_sleep(seconds)

    monkeypatch.setattr(transports.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(transports.time, "sleep", fake_sleep)
    monkeypatch.setattr(transports.asyncio, "sleep", fake_asleep)
    model = lessonkit.start("p", mode="replay", speed=speed, recordings_dir=rec, announce=False).chat_model()
    assert "".join(c.content for c in model.stream("hi")) == ANSWER
    assert now[0] == pytest.approx(offsets[-1] * speed)
    if speed:
        assert waits[0] == pytest.approx(offsets[0] * speed)  # time to first chunk, as recorded
    now[0] = 0.0

    async def astream() -> str:
        return "".join([c.content async for c in model.astream("hi")])

    assert asyncio.run(astream()) == ANSWER
    assert now[0] == pytest.approx(offsets[-1] * speed)
