"""Record → replay round trips through the real ChatOpenAI against a local server on 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import lessonkit
from lessonkit.errors import ModeError
from lessonkit.harness.recording import Cassette, RecordingTransport, ReplayTransport
from tests.openai_server import LocalServer


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


def model_over(transport: Any, base_url: str, key: str = "replay-mode-no-key") -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o", api_key=key, base_url=base_url, stream_usage=True,
        http_client=httpx.Client(transport=transport), http_async_client=httpx.AsyncClient(transport=transport),
    )


def comparable(message: AIMessage | AIMessageChunk) -> dict[str, Any]:
    """Everything of a message except the id LangChain makes up per run."""
    return message.model_dump(exclude={"id"})


def collect(chunks: list[AIMessageChunk]) -> dict[str, Any]:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return {"total": comparable(total), "pieces": [c.content for c in chunks], "count": len(chunks)}


def exercise(model: ChatOpenAI) -> dict[str, Any]:
    """The same calls in both passes: sync and async, streamed and not, tool calls, usage."""
    with_tools = model.bind_tools([lookup])

    async def async_calls() -> dict[str, Any]:
        plain = await model.ainvoke([HumanMessage("async hello")])
        streamed = [c async for c in model.astream([HumanMessage("async stream")])]
        tool_stream = [c async for c in with_tools.astream([HumanMessage("please look it up async")])]
        return {"ainvoke": comparable(plain), "astream": collect(streamed), "astream_tools": collect(tool_stream)}

    return {
        "invoke": comparable(model.invoke([HumanMessage("hello there")])),
        "stream": collect(list(model.stream([HumanMessage("stream this please")]))),
        "invoke_tools": comparable(with_tools.invoke([HumanMessage("please look it up")])),
        "stream_tools": collect(list(with_tools.stream([HumanMessage("please look it up streamed")]))),
        **asyncio.run(async_calls()),
    }


def test_round_trip_sync_async_streamed_tools_usage(server: LocalServer, tmp_path: Path, fake_key: str) -> None:
    path = tmp_path / "recordings" / "lesson.json"
    live = exercise(model_over(RecordingTransport(Cassette(path)), server.url, fake_key))
    server.stop()  # replay must not need it

    replayed = exercise(model_over(ReplayTransport(Cassette(path)), server.url))

    assert replayed == live
    assert live["invoke"]["content"] == "You said: hello there"
    assert live["invoke_tools"]["tool_calls"][0]["args"] == {"query": "please look it up"}
    assert live["stream_tools"]["total"]["tool_calls"][0]["name"] == "lookup"
    for name in ("invoke", "ainvoke"):
        assert live[name]["usage_metadata"]["output_tokens"] == 7
    for name in ("stream", "astream", "stream_tools", "astream_tools"):
        assert live[name]["total"]["usage_metadata"]["input_tokens"] == 11, name
        assert live[name]["count"] > 3, name  # streamed in pieces, not one blob
    # The recorder asked upstream for a stream with usage even for plain invoke: every recording has chunks.
    assert all(seen.body["stream"] is True and seen.body["stream_options"] == {"include_usage": True} for seen in server.seen)
    recording = json.loads(path.read_text())
    assert {i["origin"] for i in recording["interactions"]} == {"live"}
    assert all(len(i["response"]["chunks"]) > 2 for i in recording["interactions"])
    offsets = [c["t"] for c in recording["interactions"][1]["response"]["chunks"]]
    assert offsets == sorted(offsets) and offsets[-1] > offsets[0]  # real arrival times were kept


def test_keys_never_reach_the_recording(server: LocalServer, tmp_path: Path, fake_key: str) -> None:
    from lessonkit.harness.search import recorded_search

    path = tmp_path / "rec.json"
    cassette = Cassette(path)
    model_over(RecordingTransport(cassette), server.url, fake_key).invoke([HumanMessage("secret test")])
    tavily_key = "tvly-" + "TESTKEY" * 4
    search = recorded_search(cassette, recording=True, api_key=tavily_key, api_base_url=server.url.removesuffix("/v1"))
    search.invoke({"query": "where is my key"})

    # The keys did go upstream (this is a real recording of real requests) ...
    assert server.seen[0].headers["authorization"] == f"Bearer {fake_key}"
    assert server.seen[1].headers["authorization"] == f"Bearer {tavily_key}"
    # ... but never into the file.
    text = path.read_text()
    for secret in (fake_key, tavily_key, "Bearer", "authorization", "Authorization"):
        assert secret not in text
    kinds = [i["kind"] for i in json.loads(text)["interactions"]]
    assert kinds == ["chat", "search"]


def test_same_request_recorded_twice_replays_in_order(server: LocalServer, tmp_path: Path) -> None:
    calls = iter(["first answer", "second answer"])

    def two_answers(path: str, body: dict[str, Any]) -> Any:
        text = next(calls)
        completion = {"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
        return 200, "application/json", [json.dumps(completion).encode()]

    server.responder = two_answers
    path = tmp_path / "rec.json"
    recorder = model_over(RecordingTransport(Cassette(path)), server.url)
    assert [recorder.invoke("same").content for _ in range(2)] == ["first answer", "second answer"]
    replayer = model_over(ReplayTransport(Cassette(path)), server.url)
    assert [replayer.invoke("same").content for _ in range(3)] == ["first answer", "second answer", "second answer"]


def test_at_speed_replays_the_same_recording_at_another_pace() -> None:
    lesson = lessonkit.start("00_quickstart", recordings_dir=Path(__file__).resolve().parents[1] / "notebooks" / "recordings", announce=False)
    paced = lesson.at_speed(1)
    assert (paced.speed, lesson.speed) == (1.0, 0.0) and paced.cassette is lesson.cassette  # one recording, two paces
    assert (paced.recorder.speed, lesson.recorder.speed) == (1.0, 0.0)
    assert paced.recorder._turn is lesson.recorder._turn and paced.recorder.upstream is lesson.recorder.upstream  # one writer
    with pytest.raises(ModeError, match="out of range"):
        lesson.at_speed(2)


# ---------------------------------------------------------------- one Recorder decides (issue 13)

def test_the_record_mode_decision_table() -> None:
    from lessonkit.harness.recording.recorder import Decision, RecordMode, decide, record_mode

    table = {(mode, known): decide(mode, known) for mode in RecordMode for known in (False, True)}
    assert table == {
        (RecordMode.REPLAY, False): Decision.REPLAY, (RecordMode.REPLAY, True): Decision.REPLAY,  # a miss raises on play
        (RecordMode.RECORD, False): Decision.ASK, (RecordMode.RECORD, True): Decision.ASK,
        (RecordMode.EXTEND, False): Decision.ASK, (RecordMode.EXTEND, True): Decision.REPLAY,
        (RecordMode.AUTHOR, False): Decision.ASK, (RecordMode.AUTHOR, True): Decision.ASK,
    }
    assert record_mode(recording=False, script=True, extend=True) is RecordMode.REPLAY
    assert record_mode(recording=True) is RecordMode.RECORD
    assert record_mode(recording=True, script=True) is RecordMode.AUTHOR
    assert record_mode(recording=True, script=True, extend=True) is RecordMode.EXTEND  # the script answers only what is new


def test_record_modes_map_to_how_the_recording_is_replaced() -> None:
    from lessonkit.harness.recording.recorder import RecordMode
    from lessonkit.harness.recording.session import commit_policy

    assert commit_policy(RecordMode.RECORD, whole_run=True) == commit_policy(RecordMode.AUTHOR, whole_run=True) == "all"
    assert commit_policy(RecordMode.RECORD, whole_run=False) == commit_policy(RecordMode.AUTHOR, whole_run=False) == "merge"
    assert commit_policy(RecordMode.EXTEND, whole_run=True) == commit_policy(RecordMode.EXTEND, whole_run=False) == "missing"


def test_a_script_is_an_upstream_whose_answer_note_and_timing_reach_the_cassette_as_values(tmp_path: Path) -> None:
    from lessonkit.harness.recording import Answer, ChatTransport, Recorder, RecordMode, Reply, Script, ScriptUpstream

    script = Script(replies=[Reply(content="scripted hello", note="hand-written", first_token_s=0.3, chunk_interval_s=0.1)])
    upstream = ScriptUpstream(script)
    request = httpx.Request("POST", "http://x.invalid/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    answer = upstream.handle_request(request)
    assert isinstance(answer, Answer) and answer.origin == "authored" and answer.response.chunks[0].t == 0.3
    assert answer.note == "hand-written; usage estimated; chunking and timing synthesized"

    script = Script(replies=[Reply(content="scripted hello", note="hand-written", first_token_s=0.3, chunk_interval_s=0.1)])
    cassette = Cassette(tmp_path / "authored.json")
    model = model_over(ChatTransport(Recorder(cassette, RecordMode.AUTHOR, ScriptUpstream(script))), "http://x.invalid/v1")
    assert model.invoke([HumanMessage("hi")]).content == "scripted hello"
    (item,) = json.loads(cassette.path.read_text())["interactions"]
    assert item["origin"] == "authored" and item["note"] == "hand-written; usage estimated; chunking and timing synthesized"
    assert [c["t"] for c in item["response"]["chunks"]][:3] == [0.3, 0.4, 0.5]  # the scripted timing, not how fast it ran
    assert "lessonkit_note" not in json.dumps(item) and "extensions" not in json.dumps(item)


def test_extend_replays_what_is_recorded_and_asks_only_what_is_new(server: LocalServer, fake_key: str, tmp_path: Path) -> None:
    path = tmp_path / "extend.json"
    model_over(RecordingTransport(Cassette(path)), server.url, fake_key).invoke([HumanMessage("first")])
    asked = len(server.seen)
    extending = model_over(RecordingTransport(Cassette(path), extend=True), server.url, fake_key)
    extending.invoke([HumanMessage("first")])
    assert len(server.seen) == asked  # known: replayed
    extending.invoke([HumanMessage("second")])
    assert len(server.seen) == asked + 1
    assert len(Cassette(path).interactions) == 2
