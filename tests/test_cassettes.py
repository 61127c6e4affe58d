"""Replay in your own tests (issue 12, point 10): lessonkit.cassettes and the lessonkit_cassette fixture,
with pytest-recording's record modes, against a local OpenAI-compatible server that counts requests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lessonkit.cassettes import RecordMode, plan, use_cassette
from lessonkit.harness.recording.recorder import RecordMode as Run
from lessonkit.errors import ModeError, RecordingMissError
from tests.openai_server import LocalServer


def test_plan_is_pytest_recordings_table() -> None:
    assert [plan(mode, False) for mode in RecordMode] == [Run.REPLAY, Run.RECORD, Run.RECORD, Run.RECORD]
    assert [plan(mode, True) for mode in RecordMode] == [Run.REPLAY, Run.REPLAY, Run.EXTEND, Run.RECORD]
    with pytest.raises(ModeError, match="not one of none, once, new_episodes, all"):
        with use_cassette("x.json", "sometimes"):
            pass


def ask(lesson, text: str) -> str:
    return lesson.chat_model().invoke(text).content


def test_record_modes_against_a_counting_upstream(server: LocalServer, fake_key: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", fake_key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    path = tmp_path / "cassettes" / "my_agent.json"
    with use_cassette(path, "once") as lesson:  # no cassette yet: recorded
        first = ask(lesson, "hello")
    assert len(server.seen) == 1 and path.exists() and fake_key not in path.read_text()
    with use_cassette(path, "once") as lesson:  # there now: replayed
        assert ask(lesson, "hello") == first
    with use_cassette(path) as lesson:  # none: replay only
        assert ask(lesson, "hello") == first
        with pytest.raises(RecordingMissError, match="nearest recorded request"):
            ask(lesson, "something new")
    assert len(server.seen) == 1
    with use_cassette(path, "new_episodes") as lesson:  # the known one replayed, the new one recorded
        ask(lesson, "hello")
        ask(lesson, "something new")
    assert [s.body["messages"][-1]["content"] for s in server.seen] == ["hello", "something new"]
    assert len(json.loads(path.read_text())["interactions"]) == 2
    with use_cassette(path, "all") as lesson:  # everything again, and only what this block asked is kept
        ask(lesson, "hello")
    assert len(server.seen) == 3 and len(json.loads(path.read_text())["interactions"]) == 1


def test_a_failed_block_leaves_the_cassette_as_it_was(server: LocalServer, fake_key: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", fake_key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    path = tmp_path / "c.json"
    with use_cassette(path, "once") as lesson:
        ask(lesson, "hello")
    before = path.read_bytes()
    with pytest.raises(AssertionError), use_cassette(path, "all") as lesson:
        ask(lesson, "other")
        raise AssertionError("the test failed")
    assert path.read_bytes() == before


USER_TEST = '''
def test_my_agent(lessonkit_cassette):
    model = lessonkit_cassette.chat_model()
    assert model.invoke("hello").content == {answer!r}
'''


def run_user_test(folder: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *options,
                           "test_user.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_fixture_records_once_then_replays_a_users_test_offline(server: LocalServer, fake_key: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LESSONKIT_"))}
    (tmp_path / "test_user.py").write_text(USER_TEST.format(answer="You said: hello"))
    recorded = run_user_test(tmp_path, env | {"OPENAI_API_KEY": fake_key, "OPENAI_BASE_URL": server.url},
                             "--lessonkit-record-mode=once")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert len(server.seen) == 1 and (tmp_path / "cassettes" / "test_my_agent.json").exists()
    replayed = run_user_test(tmp_path, env)  # no key, no base URL: the default mode, none, replays
    assert replayed.returncode == 0 and "1 passed" in replayed.stdout, replayed.stdout + replayed.stderr
    assert len(server.seen) == 1
    (tmp_path / "test_user.py").write_text(USER_TEST.format(answer="You said: hello").replace('"hello"', '"bye"'))
    missed = run_user_test(tmp_path, env)
    assert missed.returncode == 1 and "RecordingMissError" in missed.stdout and len(server.seen) == 1
