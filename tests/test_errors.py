"""The errors a student meets: a missing recording, a corrupt one, a missing key, a bad mode."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit.errors import CorruptRecordingError, MissingKeyError, ModeError, RecordingMissError
from lessonkit.harness.modes import active_mode, replay_speed
from lessonkit.harness.recording import Reply, Script, ScriptedCall
from lessonkit.harness.recording.cassette import Cassette

def make_script() -> Script:
    """Two hand-written replies (a script hands each out once, so every test takes a fresh one)."""
    return Script(
        replies=[Reply(content="Hello! How can I help?"), Reply(tool_calls=(ScriptedCall("tavily_search", {"query": "weather in sf"}, "call_a"),))],
        note="hand-written for the error tests",
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Any attempt to open a socket fails the test: replay and its errors must stay offline."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts


def authored_lesson(tmp_path: Path) -> Path:
    """Record two authored replies the way `lessonkit record --script` does, and return the file."""
    path = tmp_path / "recordings" / "lesson_x.json"
    cassette = Cassette(path, notebook="lesson_x.ipynb")
    lesson = lessonkit.Lesson("lesson_x", "record", 0.0, cassette, script=make_script())
    model = lesson.chat_model()
    model.invoke([HumanMessage("Hi there")])
    model.invoke([HumanMessage("What is the weather in sf?")])
    return path


def test_miss_names_file_shows_diff_and_command(tmp_path: Path, no_network: list[Any]) -> None:
    path = authored_lesson(tmp_path)
    lesson = lessonkit.start("lesson_x", recordings_dir=path.parent, mode="replay", announce=False)
    model = lesson.chat_model()
    assert model.invoke([HumanMessage("Hi there")]).content == "Hello! How can I help?"
    with pytest.raises(RecordingMissError) as caught:
        model.invoke([HumanMessage("What is the weather in LA?")])
    message = str(caught.value)
    assert "lesson_x.json" in message and "(2 chat interactions)" in message
    assert "nearest recorded request: interactions[1]" in message
    assert "messages[0] (user).content: recorded 'What is the weather in sf?' ≠ requested 'What is the weather in LA?'" in message
    assert "python -m lessonkit record" in message and "lesson_x.ipynb" in message
    assert no_network == []


def test_miss_on_a_changed_tool_names_the_tool(tmp_path: Path) -> None:
    from langchain_core.tools import tool

    @tool
    def lookup(query: str) -> str:
        """Look up."""
        return query

    path = authored_lesson(tmp_path)
    model = lessonkit.start("lesson_x", recordings_dir=path.parent, mode="replay", announce=False).chat_model()
    with pytest.raises(RecordingMissError) as caught:
        model.bind_tools([lookup]).invoke([HumanMessage("Hi there")])
    assert "tools: this request has" in str(caught.value) and "lookup" in str(caught.value)


def test_miss_in_search_is_raised_not_fed_to_the_model(tmp_path: Path) -> None:
    path = tmp_path / "recordings" / "s.json"
    Cassette(path).add("search", {"query": "sf", "max_results": 2}, {"duration": 0.1, "result": {"results": [1]}}, "authored")
    lesson = lessonkit.start("s", recordings_dir=path.parent, mode="replay", announce=False)
    with pytest.raises(RecordingMissError, match="search for 'la'"):
        lesson.search_tool().invoke({"query": "la"})


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda text: text[: len(text) // 2], r"not valid JSON at line \d+, column \d+.*truncated"),
        (lambda text: text.replace('"t":', '"time":', 1), r"interactions\[0\]\.response\.chunks\[0\]: each chunk needs a number \"t\""),
        (lambda text: text.replace('"origin": "authored"', '"origin": "guessed"', 1), r"interactions\[0\]\.origin: must be 'live' or 'authored'"),
        (lambda text: "", r"not valid JSON at line 1, column 1"),
    ],
)
def test_corrupt_recording_names_file_and_position(tmp_path: Path, damage: Any, expected: str, no_network: list[Any]) -> None:
    path = authored_lesson(tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(CorruptRecordingError, match=expected) as caught:
        lessonkit.start("lesson_x", recordings_dir=path.parent, mode="replay", announce=False)
    assert str(path) in str(caught.value)


def test_saving_is_atomic_and_keeps_earlier_interactions(tmp_path: Path) -> None:
    path = authored_lesson(tmp_path)
    before = json.loads(path.read_text())["interactions"]
    cassette = Cassette(path)
    cassette.add("search", {"query": "q"}, {"duration": 0.0, "result": {}}, "authored")
    after = json.loads(path.read_text())["interactions"]
    assert after[:2] == before and len(after) == 3
    assert list(path.parent.glob("*.tmp")) == []


def test_live_without_keys_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    lesson = lessonkit.start("x", mode="live", announce=False)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY is not set.*\\.env.*LESSONKIT_MODE=replay"):
        lesson.chat_model()
    with pytest.raises(MissingKeyError, match="TAVILY_API_KEY is not set, and live mode calls Tavily search"):
        lesson.search_tool()


def test_search_tool_is_the_real_tavily_tool_in_every_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from langchain_tavily import TavilySearch

    monkeypatch.setenv("TAVILY_API_KEY", "tvly-" + "placeholder")
    live = lessonkit.start("x", mode="live", recordings_dir=tmp_path, announce=False).search_tool()
    replay = lessonkit.start("x", mode="replay", recordings_dir=tmp_path, announce=False).search_tool()
    assert isinstance(replay, TavilySearch)
    assert convert_to_openai_tool(replay) == convert_to_openai_tool(live)
    assert replay.name == "tavily_search"


def test_mode_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert active_mode({}) == "replay"
    assert active_mode({"OPENAI_API_KEY": "x"}) == "live"
    assert active_mode({"OPENAI_API_KEY": "x", "LESSONKIT_MODE": "replay"}) == "replay"
    assert active_mode({"LESSONKIT_MODE": " record "}) == "record"
    with pytest.raises(ModeError, match="Did you mean 'record'"):  # strict: a typo never falls through
        active_mode({"LESSONKIT_MODE": "Record"})
    with pytest.raises(ModeError, match="use one of: replay, live, record"):
        active_mode({"LESSONKIT_MODE": "offline"})
    assert replay_speed({}) == 0.0 and replay_speed({"LESSONKIT_REPLAY_SPEED": "0.5"}) == 0.5
    with pytest.raises(ModeError, match="0 \\(instant\\) to 1"):
        replay_speed({"LESSONKIT_REPLAY_SPEED": "2"})


def test_settings_round_trip_through_the_environment(tmp_path: Path) -> None:
    from lessonkit.harness.recording import RecordMode
    from lessonkit.harness.settings import VARIABLES, Settings

    full = Settings(mode="record", replay_speed=0.5, record_policy="missing", script=tmp_path / "s.json",
                    recordings_dir=tmp_path / "rec", shown_as="notebooks/recordings", data_dir=tmp_path / "data",
                    usage_dir=tmp_path / "usage", notebook="01_x.ipynb", database_url="postgresql://u@h/db", pg_bin="/pg/bin")
    env = full.to_env()
    assert set(env) == set(VARIABLES.values()) and env["LESSONKIT_REPLAY_SPEED"] == "0.5"
    assert Settings.from_env({k: v for k, v in env.items() if v is not None}) == full
    assert full.record_mode is RecordMode.EXTEND and full.replace(record_policy="all").record_mode is RecordMode.AUTHOR
    assert full.replace(record_policy="all", script=None).record_mode is RecordMode.RECORD
    empty = Settings.from_env({}, front_end=False)
    assert empty == Settings() and Settings.from_env({"LESSONKIT_SCRIPT": " "}, front_end=False).script is None
    assert Settings(mode="replay").to_env("mode", "script") == {"LESSONKIT_MODE": "replay", "LESSONKIT_SCRIPT": None}  # None: unset
    assert Settings.from_env({"LESSONKIT_MODE": "record", "LESSONKIT_SCRIPT": "a.json"}).record_mode is RecordMode.AUTHOR


@pytest.mark.parametrize(("env", "message"), [
    ({"LESSONKIT_MODE": "Record"}, "LESSONKIT_MODE='Record' is not a mode.*Did you mean 'record'"),
    ({"LESSONKIT_REPLAY_SPEED": "fast"}, "Replay speed 'fast' is not a number"),
    ({"LESSONKIT_REPLAY_SPEED": "1.5"}, "Replay speed 1.5 is out of range"),
    ({"LESSONKIT_RECORD_POLICY": "merge"}, "LESSONKIT_RECORD_POLICY='merge' is not a policy; use all or missing"),
])
def test_settings_refuse_what_they_cannot_read(env: dict[str, str], message: str) -> None:
    from lessonkit.harness.settings import Settings

    with pytest.raises(ModeError, match=message):
        Settings.from_env(env, front_end=False)


def test_suite_runs_in_replay_whatever_keys_exist() -> None:
    assert active_mode() == "replay"


def test_replay_banner_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = authored_lesson(tmp_path)
    for _ in range(2):
        lessonkit.start("lesson_x", recordings_dir=path.parent, mode="replay")
    first, second = capsys.readouterr().out.splitlines()
    assert first == second
    assert first.startswith("lessonkit · replay mode (recorded responses, no network, no keys) · ")
    assert first.endswith("lesson_x.json: 2 model responses (2 authored) · speed 0")


def test_script_running_out_says_what_to_add(tmp_path: Path) -> None:
    path = authored_lesson(tmp_path)
    recorder = lessonkit.Lesson("lesson_x", "record", 0.0, Cassette(path), script=make_script()).chat_model()
    recorder.invoke("one")
    recorder.invoke("two")
    with pytest.raises(lessonkit.LessonkitError, match='has 2 chat replies, and the lesson asked for reply 3. Add another entry to its "chat" list'):
        recorder.invoke("three")


def test_a_miss_in_a_kernel_is_its_message_alone_not_a_traceback(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import lessonkit\nlesson = lessonkit.start("x", mode="replay", announce=False)'),
        nbformat.v4.new_code_cell('lesson.search_tool().invoke({"query": "nothing recorded"})'),
        nbformat.v4.new_code_cell('1 / 0'),
    ])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellExecutionError:  # pragma: no cover - allow_errors keeps going
        pass
    miss = nb.cells[1].outputs[-1]
    assert miss.output_type == "error" and miss.ename == "RecordingMissError"
    assert len(miss.traceback) == 1 and miss.traceback[0].startswith("RecordingMissError: No recorded response for this search")
    assert "--missing-only" in miss.traceback[0]
    other = nb.cells[2].outputs[-1]
    assert other.ename == "ZeroDivisionError" and len(other.traceback) > 1  # other errors keep their traceback


def test_ipython_still_has_showtraceback() -> None:
    """lessonkit.support.cell_errors displays through InteractiveShell._showtraceback (private API canary)."""
    from IPython.core.interactiveshell import InteractiveShell
    assert callable(getattr(InteractiveShell, "_showtraceback", None)), "IPython moved _showtraceback: update lessonkit/support/cell_errors.py"


def test_a_speed_given_to_start_wins_over_a_bad_one_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``start(speed=0)`` does not read LESSONKIT_REPLAY_SPEED at all; without ``speed`` the bad value is refused."""
    monkeypatch.setenv("LESSONKIT_REPLAY_SPEED", "fast")
    monkeypatch.setenv("LESSONKIT_MODE", "replay")
    lesson = lessonkit.start("speedy", speed=0, recordings_dir=tmp_path, announce=False)
    assert lesson.speed == 0.0
    with pytest.raises(ModeError, match="'fast' is not a number"):
        lessonkit.start("speedy", recordings_dir=tmp_path, announce=False)
