"""A lesson's session: its mode, its recording, and the model and search tool wired to them.

``lesson = lessonkit.start("01_persistence_and_threads")`` is the first cell of every lesson. It
prints one deterministic line saying the mode, and hands out a real ``ChatOpenAI`` and a real
``TavilySearch`` whose traffic is replayed, recorded or sent live according to that mode.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from langchain_openai import ChatOpenAI
from langchain_tavily import TavilySearch

from .support.cell_errors import install_short_errors
from .errors import MissingKeyError, ModeError
from .harness.lesson_names import check_running_name
from .harness.modes import DESCRIPTIONS, Mode, load_env, parse_mode, resolve_speed
from .harness.recording import (
    Cassette, ChatTransport, Recorder, RecordMode, Script, ScriptUpstream, load_script, record_mode,
)
from .harness.recording.cassette import project_relative, recording_summary
from .harness.recording.live import RedactingTransport, proxy_mounts
from .harness.recording.session import PendingCassette, commit_policy, pending_cassette
from .harness.search import BASE_URL_VARIABLE as SEARCH_BASE_URL_VARIABLE
from .harness.search import LessonTavilySearch, LiveUpstream, search_tool
from .harness.settings import VARIABLES, Settings

DEFAULT_MODEL = "gpt-4o"
NO_KEY_PLACEHOLDER = "replay-mode-no-key"  # what the client holds when nothing may leave this machine


def _require(name: str, mode: Mode, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingKeyError(
            f"{name} is not set, and {mode} mode calls {what} for real. Add {name}=... to the .env file at the "
            f"project root (copy .env.example), or run without keys from the recordings: {VARIABLES['mode']}=replay."
        )
    return value


@dataclass
class Lesson:
    """What one notebook run uses: mode, pacing, recording and (when authoring) a script."""

    name: str
    mode: Mode
    speed: float
    cassette: Cassette
    script: Script | None = None
    replay_known: bool = False
    shown_as: str | None = None  # the recording's name in messages when it is read from a staging copy
    _recorder: Recorder | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.mode = parse_mode(self.mode, "mode")  # a typo must never fall through to record or live
        self._recorder = None  # a copy (at_speed) gets its own, at its own speed

    @property
    def record_mode(self) -> RecordMode:
        return record_mode(recording=self.mode == "record", script=self.script is not None, extend=self.replay_known)

    @property
    def recorder(self) -> Recorder:
        """The one Recorder the lesson's model and search tool share (replay or record mode)."""
        if self._recorder is None:
            upstream = None if self.mode != "record" else ScriptUpstream(self.script) if self.script else LiveUpstream()
            self._recorder = Recorder(self.cassette, self.record_mode, upstream, self.speed)
        return self._recorder

    def save_recording(self) -> str:
        """Record mode: replace the recording with this run's answers now (otherwise at kernel shutdown).

        Refused, leaving the recording as it was, when the run's last answer to a request was an
        upstream error; the answers wait in the journal beside it.
        """
        if not isinstance(self.cassette, PendingCassette):
            raise ModeError(f"save_recording() is for record mode; this lesson runs in {self.mode} mode.")
        return self.cassette.commit()

    def banner(self) -> str:
        """One line, the same every run in replay, saying how this lesson's model calls are served."""
        line = f"lessonkit · {self.mode} mode ({DESCRIPTIONS[self.mode]})"
        if self.mode == "replay":
            line += f" · {recording_summary(self.cassette, shown_as=self.shown_as)} · speed {self.speed:g}"
        elif self.mode == "record":
            line += f" · refreshing {self.shown_as or project_relative(self.cassette.path)}" + (" from a script (authored)" if self.script else "")
            line += "; it is replaced when the run ends well (lesson.save_recording() or kernel shutdown)"
            if isinstance(self.cassette, PendingCassette) and self.cassette.kept_journal is not None:
                line += f" · an earlier run's unsaved answers are kept in {project_relative(self.cassette.kept_journal)}"
        return line

    def at_speed(self, speed: float) -> "Lesson":
        """The same lesson and recording, replayed at another pace (e.g. slow enough to press Stop)."""
        copy = replace(self, speed=resolve_speed(speed, os.environ))
        copy._recorder = self.recorder.at_speed(copy.speed)  # shared: one cassette, one upstream, one lock
        return copy

    def chat_model(self, model: str = DEFAULT_MODEL, **kwargs: Any) -> ChatOpenAI:
        """A real ChatOpenAI with streamed usage on; its HTTP goes through lessonkit's transports."""
        kwargs = {"model": model, "stream_usage": True, **kwargs}
        mounts = None
        if self.mode == "live":  # httpx as usual, but an error body reaches the exception (and disk) redacted
            key = _require("OPENAI_API_KEY", "live", "the OpenAI API")
            transport: Any = RedactingTransport()
            mounts = proxy_mounts()
        else:  # replay, or record from the API (its key) or a script
            live = isinstance(self.recorder.upstream, LiveUpstream)
            key = _require("OPENAI_API_KEY", "record", "the OpenAI API") if live else NO_KEY_PLACEHOLDER
            transport = ChatTransport(self.recorder)
        return ChatOpenAI(
            api_key=key, http_client=httpx.Client(transport=transport, mounts=mounts),
            http_async_client=httpx.AsyncClient(transport=transport, mounts=mounts), **kwargs,
        )

    def search_tool(self, max_results: int = 2, **kwargs: Any) -> TavilySearch:
        """langchain-tavily's TavilySearch; replayed or recorded outside live mode."""
        base_url = os.environ.get(SEARCH_BASE_URL_VARIABLE, "").strip() or None
        if self.mode == "live":
            key = _require("TAVILY_API_KEY", "live", "Tavily search")
            where = {"api_base_url": base_url} if base_url else {}
            return LessonTavilySearch(max_results=max_results, tavily_api_key=key, **where, **kwargs)  # errors come back redacted
        upstream = self.recorder.upstream
        if isinstance(upstream, LiveUpstream):
            upstream.use_tavily(_require("TAVILY_API_KEY", "record", "Tavily search"), base_url)
        return search_tool(self.recorder, max_results=max_results, **kwargs)


def start(
    name: str, *, mode: Mode | None = None, speed: float | None = None, recordings_dir: str | Path | None = None, announce: bool = True
) -> Lesson:
    """Begin a lesson: load .env, read the settings, open ``recordings/<name>.json``, print the mode line."""
    load_env()
    settings = Settings.from_env(speed=speed)
    if mode is not None:
        settings = settings.replace(mode=parse_mode(mode, "mode"))
    mode = settings.mode
    folder = Path(recordings_dir or settings.recordings_dir or Path.cwd() / "recordings")
    path = (folder / f"{name}.json").resolve()
    script = load_script(settings.script) if mode == "record" and settings.script else None
    replay_known = settings.record_policy == "missing"
    cassette: Cassette
    if mode == "record":
        check_running_name(name, folder)  # before anything is written
        # a whole run (lessonkit record) replaces the recording; a kernel's run merges into it
        policy = commit_policy(settings.record_mode, whole_run=settings.record_policy is not None)
        cassette = pending_cassette(path, f"{name}.ipynb", policy=policy)
    else:
        cassette = Cassette(path, notebook=f"{name}.ipynb")
    lesson = Lesson(
        name=name, mode=mode, speed=settings.replay_speed,
        cassette=cassette, script=script, replay_known=replay_known,
        shown_as=f"{settings.shown_as}/{name}.json" if settings.shown_as else None,
    )
    install_short_errors()  # a miss (or any lessonkit error) is its message in the cell, not 390 lines of frames
    if announce:
        print(lesson.banner())
    return lesson
