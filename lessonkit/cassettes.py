"""Replay (or record) a cassette for your own agent in your own tests, in a few lines.

The lessons' record/replay, for any code that builds a ``ChatOpenAI`` or ``TavilySearch``: take the model
and the search tool from the object ``use_cassette`` yields, and their HTTP is answered from (or saved to)
one JSON file. Record modes work as pytest-recording's (vcrpy's) do:

- ``none`` (the default): replay only; a request the cassette does not hold raises ``RecordingMissError``
  with the nearest recorded request. No key, no network.
- ``once``: replay if the cassette exists; record everything if it does not (needs the keys).
- ``new_episodes``: replay what is recorded, record what is new, keep the rest.
- ``all``: record everything again.

A recording run writes the cassette atomically when the block ends well (an upstream error on every retry
leaves it as it was). In pytest, the ``lessonkit_cassette`` fixture (``lessonkit.harness.pytest_plugin``) gives each
test ``cassettes/<test name>.json`` beside its file, with ``--lessonkit-record-mode`` choosing the mode::

    def test_my_agent(lessonkit_cassette):
        agent = build_my_agent(lessonkit_cassette.chat_model(), [lessonkit_cassette.search_tool()])
        assert "sunny" in agent.invoke({"messages": [("user", "weather in sf?")]})["messages"][-1].content
"""
from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ModeError
from .lesson import Lesson
from .harness.recording.cassette import Cassette
from .harness.recording.recorder import RecordMode as Run
from .harness.recording.session import PendingCassette, commit_policy


class RecordMode(str, enum.Enum):
    """pytest-recording's names for what a test does with its cassette (``plan`` maps them to a Recorder's mode)."""

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"


def parse_record_mode(value: str | RecordMode) -> RecordMode:
    try:
        return RecordMode(value)
    except ValueError:
        raise ModeError(f"record mode {value!r} is not one of {', '.join(m.value for m in RecordMode)}") from None


def plan(mode: RecordMode, exists: bool) -> Run:
    """How a test's run treats its cassette (pure): replay it, extend it, or record it anew."""
    if mode is RecordMode.NONE or (mode is RecordMode.ONCE and exists):
        return Run.REPLAY
    if mode is RecordMode.NEW_EPISODES and exists:
        return Run.EXTEND
    return Run.RECORD


@contextlib.contextmanager
def use_cassette(path: str | os.PathLike[str], record_mode: str | RecordMode = RecordMode.NONE, *,
                 speed: float = 0.0) -> Iterator[Lesson]:
    """A Lesson whose ``chat_model()`` and ``search_tool()`` replay or record ``path`` (see the module docstring)."""
    path = Path(path)
    run = plan(parse_record_mode(record_mode), path.exists())
    if run is Run.REPLAY:
        yield Lesson(path.stem, "replay", speed, Cassette(path))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cassette = PendingCassette(path, f"{path.stem}.ipynb", policy=commit_policy(run, whole_run=True), prune=False)
    yield Lesson(path.stem, "record", 0.0, cassette, replay_known=run is Run.EXTEND)
    cassette.commit()  # only when the block ended well: the file is replaced atomically, or left as it was
