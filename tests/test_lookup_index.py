"""The cassette's index by request gives exactly what a scan of every interaction would, in the same order.

No timing here: how lookups scale is measured in bench/lookup.py, never asserted in a test.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from lessonkit.errors import RecordingMissError
from lessonkit.harness.recording import Cassette
from lessonkit.harness.recording.canonical import canonical_request, request_key
from tests.conftest import ROOT

RECORDINGS = ROOT / "notebooks" / "recordings"


def ask(text: str) -> dict[str, Any]:
    """A chat request body as a client sends it (stream flags included; they are not part of the key)."""
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": True, "stream_options": {"include_usage": True}}


def answer(text: str) -> dict[str, Any]:
    return {"status": 200, "captured_as": "stream", "duration": 0.1, "meta": {"id": "x"}, "usage": None,
            "chunks": [{"t": 0.1, "delta": {"role": "assistant", "content": text}}]}


def scanned(cassette: Cassette, kind: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """What the index must agree with: every interaction of that kind and request, in file order."""
    key = request_key(canonical_request(request) if kind == "chat" else dict(sorted(request.items())))
    return [i for i in cassette.interactions if i["kind"] == kind and request_key(i["request"]) == key]


def texts(cassette: Cassette, request: dict[str, Any], times: int) -> list[str]:
    return [cassette.play("chat", request)["response"]["chunks"][0]["delta"]["content"] for _ in range(times)]


def test_duplicates_play_in_recorded_order_then_the_last_repeats(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    cassette = Cassette(path)
    for text in ("first", "other", "second", "third"):
        cassette.add("chat", ask("other" if text == "other" else "same"), answer(text), "authored")
    reloaded = Cassette(path)
    assert texts(reloaded, ask("same"), 4) == ["first", "second", "third", "third"]
    assert texts(reloaded, ask("other"), 2) == ["other", "other"]


def test_chat_and_search_with_the_same_body_are_kept_apart(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "rec.json")
    body = {"query": "weather in sf"}
    cassette.add("search", body, {"duration": 0.0, "result": {"results": ["search"]}}, "authored")
    assert cassette.has("search", body) and not cassette.has("chat", body)
    with pytest.raises(RecordingMissError):
        cassette.play("chat", body)
    assert cassette.play("search", body)["response"]["result"] == {"results": ["search"]}


def test_add_after_load_is_found_at_once_and_after_reloading(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    Cassette(path).add("chat", ask("old"), answer("old answer"), "authored")
    cassette = Cassette(path)
    assert texts(cassette, ask("old"), 1) == ["old answer"]  # the index is built now
    cassette.add("chat", ask("new"), answer("new answer"), "authored")
    cassette.add("chat", ask("old"), answer("old again"), "authored")
    assert texts(cassette, ask("new"), 1) == ["new answer"]
    assert texts(cassette, ask("old"), 1) == ["old again"]  # the second recording of "old", next in order
    assert texts(Cassette(path), ask("old"), 2) == ["old answer", "old again"]


def test_clear_forgets_every_request_and_where_playback_was(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    cassette = Cassette(path)
    cassette.add("chat", ask("q"), answer("before"), "authored")
    assert texts(cassette, ask("q"), 1) == ["before"]
    cassette.clear()
    assert not cassette.has("chat", ask("q"))
    with pytest.raises(RecordingMissError):
        cassette.play("chat", ask("q"))
    cassette.add("chat", ask("q"), answer("after"), "authored")
    cassette.add("chat", ask("q"), answer("after, twice"), "authored")
    assert texts(cassette, ask("q"), 2) == ["after", "after, twice"]  # played from the start again


def test_a_list_replaced_or_grown_elsewhere_is_indexed_again(tmp_path: Path) -> None:
    """Other code may replace the interactions (a merge on commit) or append to them; lookups follow."""
    cassette = Cassette(tmp_path / "rec.json")
    cassette.add("chat", ask("a"), answer("a"), "authored")
    assert cassette.has("chat", ask("a"))
    replacement = Cassette(tmp_path / "other.json")
    replacement.add("chat", ask("b"), answer("b"), "authored")
    cassette.document["interactions"] = list(replacement.interactions)
    assert cassette.has("chat", ask("b")) and not cassette.has("chat", ask("a"))
    cassette.interactions.append(dict(cassette.interactions[0], request=canonical_request(ask("c"))))
    assert texts(cassette, ask("c"), 1) == ["b"]


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDINGS.glob("*.json")))
def test_every_real_recording_plays_what_a_full_scan_finds(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    shutil.copy(RECORDINGS / name, path)
    for item in Cassette(path).interactions:
        cassette = Cassette(path)  # playback from the start for each request
        expected = scanned(cassette, item["kind"], item["request"])
        played = [cassette.play(item["kind"], item["request"]) for _ in expected]
        assert [p is e for p, e in zip(played, expected)] == [True] * len(expected)
