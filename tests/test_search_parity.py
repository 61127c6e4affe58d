"""Search behaves like chat in every mode (issue 12, point 2): a local Tavily-compatible server through
TAVILY_API_BASE_URL, --missing-only keeping recorded searches, a miss raised with the nearest search."""
from __future__ import annotations

from pathlib import Path

import pytest

import lessonkit
from lessonkit.errors import RecordingMissError
from lessonkit.harness.recording import Cassette
from tests.openai_server import LocalServer


def recorded(tmp_path: Path) -> Cassette:
    cassette = Cassette(tmp_path / "recordings" / "s.json")
    cassette.add("search", {"query": "sf", "max_results": 2}, {"duration": 0.0, "result": {"results": ["recorded sf"]}}, "authored")
    return cassette


def test_record_reaches_a_local_tavily_server_and_missing_only_keeps_recorded_searches(
        server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-" + "local" * 4)
    monkeypatch.setenv("TAVILY_API_BASE_URL", server.url.removesuffix("/v1"))
    cassette = Cassette(tmp_path / "recordings" / "s.json")
    first = lessonkit.Lesson("s", "record", 0.0, cassette).search_tool()  # record all: the local server answers
    assert [r["content"] for r in first.invoke({"query": "sf"})["results"]] == ["about sf"]
    assert [s.body["query"] for s in server.seen] == ["sf"]

    missing_only = lessonkit.Lesson("s", "record", 0.0, Cassette(cassette.path), replay_known=True).search_tool()
    assert [r["content"] for r in missing_only.invoke({"query": "sf"})["results"]] == ["about sf"]  # kept, not asked
    assert [s.body["query"] for s in server.seen] == ["sf"]
    missing_only.invoke({"query": "la"})  # new: asked and recorded
    assert [s.body["query"] for s in server.seen] == ["sf", "la"]

    again = lessonkit.Lesson("s", "record", 0.0, Cassette(cassette.path)).search_tool()  # record all asks again
    again.invoke({"query": "sf"})
    assert [s.body["query"] for s in server.seen] == ["sf", "la", "sf"]


def test_live_mode_search_uses_the_local_server_too(server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-" + "local" * 4)
    monkeypatch.setenv("TAVILY_API_BASE_URL", server.url.removesuffix("/v1"))
    search = lessonkit.Lesson("s", "live", 0.0, Cassette(tmp_path / "unused.json")).search_tool()
    assert [r["content"] for r in search.invoke({"query": "paris"})["results"]] == ["about paris"]
    assert not (tmp_path / "unused.json").exists()


def test_a_search_miss_in_replay_names_the_query_and_the_nearest_recorded_search(tmp_path: Path) -> None:
    recorded(tmp_path)
    lesson = lessonkit.start("s", recordings_dir=tmp_path / "recordings", mode="replay", announce=False)
    with pytest.raises(RecordingMissError) as caught:
        lesson.search_tool().invoke({"query": "la"})  # raised, not turned into a tool result for the model
    text = str(caught.value)
    assert "search for 'la'" in text and "'sf'" in text


def test_the_nearest_recorded_request_is_the_edited_turn_not_the_turn_before() -> None:
    from lessonkit.harness.recording.canonical import similarity
    system = {"role": "system", "content": "be brief"}
    def request(*messages):
        return {"model": "gpt-4o", "messages": [system, *messages]}
    turn_before = request({"role": "user", "content": "hi"})
    edited = request({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                     {"role": "user", "content": "What is the weather in sf?"})
    asked = request({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "What is the weather in Paris today, in detail, please?"})
    assert min([turn_before, edited], key=lambda r: similarity(r, asked)) is edited


def test_chat_and_search_go_through_one_recorder(tmp_path: Path) -> None:
    """A lesson's model and search tool share one Recorder: one mode, one upstream (here a script), one cassette."""
    import json

    from langchain_core.messages import HumanMessage

    from lessonkit.harness.recording import Reply, Script, SearchReply

    script = Script(replies=[Reply(content="hi")], searches=[SearchReply("sf", {"results": ["scripted sf"]}, 0.25)])
    lesson = lessonkit.Lesson("s", "record", 0.0, Cassette(tmp_path / "s.json"), script=script)
    model, search = lesson.chat_model(), lesson.search_tool()
    assert model.http_client._transport.recorder is lesson.recorder  # type: ignore[attr-defined]
    assert search.api_wrapper.recorder is lesson.recorder
    assert model.invoke([HumanMessage("hello")]).content == "hi"
    assert search.invoke({"query": "sf"})["results"] == ["scripted sf"]
    items = json.loads((tmp_path / "s.json").read_text())["interactions"]
    assert [(i["kind"], i["origin"]) for i in items] == [("chat", "authored"), ("search", "authored")]
    assert items[1]["response"]["duration"] == 0.25

    replay = lessonkit.Lesson("s", "replay", 0.0, Cassette(tmp_path / "s.json"))
    assert replay.search_tool().invoke({"query": "sf"})["results"] == ["scripted sf"]
    assert replay.chat_model().invoke([HumanMessage("hello")]).content == "hi"
