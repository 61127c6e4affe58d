"""A lesson's session: its mode, its recording, and the model and search tool wired to them.

``lesson = lessonkit.start("01_persistence_and_threads")`` is the first cell of every lesson. It
prints one deterministic line saying the mode, and hands out a real ``ChatOpenAI`` and a real
``TavilySearch`` whose traffic is replayed, recorded or sent live according to that mode.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from langchain_openai import ChatOpenAI
from langchain_tavily import TavilySearch

from .errors import MissingKeyError
from .modes import DESCRIPTIONS, Mode, active_mode, load_env, replay_speed
from .recording import Cassette, RecordingTransport, ReplayTransport, Script, ScriptedTransport, load_script
from .recording.cassette import project_relative
from .search import recorded_search

DEFAULT_MODEL = "gpt-4o"
NO_KEY_PLACEHOLDER = "replay-mode-no-key"  # what the client holds when nothing may leave this machine
_RECORDING_CASSETTES: dict[Path, Cassette] = {}  # record mode: one cassette per file per process


def _require(name: str, mode: Mode, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingKeyError(
            f"{name} is not set, and {mode} mode calls {what} for real. Add {name}=... to the .env file at the "
            f"project root (copy .env.example), or run without keys from the recordings: LESSONKIT_MODE=replay."
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

    def banner(self) -> str:
        """One line, the same every run in replay, saying how this lesson's model calls are served."""
        line = f"lessonkit · {self.mode} mode ({DESCRIPTIONS[self.mode]})"
        if self.mode == "replay":
            line += f" · {recording_summary(self.cassette)} · speed {self.speed:g}"
        elif self.mode == "record":
            line += f" · writing {project_relative(self.cassette.path)}" + (" from a script (authored)" if self.script else "")
        return line

    def chat_model(self, model: str = DEFAULT_MODEL, **kwargs: Any) -> ChatOpenAI:
        """A real ChatOpenAI with streamed usage on; its HTTP goes through lessonkit's transports."""
        kwargs = {"model": model, "stream_usage": True, **kwargs}
        if self.mode == "live":
            return ChatOpenAI(api_key=_require("OPENAI_API_KEY", "live", "the OpenAI API"), **kwargs)
        if self.mode == "replay":
            transport: Any = ReplayTransport(self.cassette, self.speed)
            key = NO_KEY_PLACEHOLDER
        elif self.script is not None:
            upstream = ScriptedTransport(self.script)
            transport = RecordingTransport(self.cassette, upstream, upstream, origin="authored", replay_known=self.replay_known)
            key = NO_KEY_PLACEHOLDER
        else:
            key = _require("OPENAI_API_KEY", "record", "the OpenAI API")
            transport = RecordingTransport(self.cassette, replay_known=self.replay_known)
        return ChatOpenAI(api_key=key, http_client=httpx.Client(transport=transport), http_async_client=httpx.AsyncClient(transport=transport), **kwargs)

    def search_tool(self, max_results: int = 2, **kwargs: Any) -> TavilySearch:
        """langchain-tavily's TavilySearch; replayed or recorded outside live mode."""
        if self.mode == "live":
            return TavilySearch(max_results=max_results, tavily_api_key=_require("TAVILY_API_KEY", "live", "Tavily search"), **kwargs)
        recording = self.mode == "record"
        key = _require("TAVILY_API_KEY", "record", "Tavily search") if recording and self.script is None else None
        return recorded_search(self.cassette, recording=recording, script=self.script, api_key=key, speed=self.speed, max_results=max_results, **kwargs)


def recording_summary(cassette: Cassette) -> str:
    """What a recording holds, by kind and origin: the banner's and `doctor`'s description of it."""
    parts = []
    for kind, one, many in (("chat", "model response", "model responses"), ("search", "search", "searches")):
        origins = cassette.origins(kind)
        if origins:
            total = sum(origins.values())
            detail = ", ".join(f"{n} {origin}" for origin, n in sorted(origins.items()))
            parts.append(f"{total} {one if total == 1 else many} ({detail})")
    return f"{project_relative(cassette.path)}: " + ("; ".join(parts) or "empty")


def start(
    name: str, *, mode: Mode | None = None, speed: float | None = None, recordings_dir: str | Path | None = None, announce: bool = True
) -> Lesson:
    """Begin a lesson: load .env, pick the mode, open ``recordings/<name>.json``, print the mode line."""
    load_env()
    mode = mode or active_mode()
    folder = Path(recordings_dir or os.environ.get("LESSONKIT_RECORDINGS_DIR") or Path.cwd() / "recordings")
    path = (folder / f"{name}.json").resolve()
    script_path = os.environ.get("LESSONKIT_SCRIPT") if mode == "record" else None
    replay_known = os.environ.get("LESSONKIT_RECORD_POLICY", "all") == "missing"
    if mode == "record":
        if path not in _RECORDING_CASSETTES:
            cassette = Cassette(path, notebook=f"{name}.ipynb")
            if not replay_known:
                cassette.clear()
            _RECORDING_CASSETTES[path] = cassette
        cassette = _RECORDING_CASSETTES[path]
    else:
        cassette = Cassette(path, notebook=f"{name}.ipynb")
    lesson = Lesson(
        name=name, mode=mode, speed=replay_speed(override=speed), cassette=cassette,
        script=load_script(script_path) if script_path else None, replay_known=replay_known,
    )
    if announce:
        print(lesson.banner())
    return lesson
