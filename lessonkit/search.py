"""The lesson's search tool: langchain-tavily's TavilySearch, with its API calls recorded or replayed.

The tool object is the real ``TavilySearch`` (same name, description and argument schema in every
mode, so the model's request is the same as live); only its API wrapper is swapped for one that reads
or writes the lesson's recording.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

from langchain_tavily import TavilySearch
from langchain_tavily._utilities import TavilySearchAPIWrapper
from pydantic import ConfigDict

from .errors import LessonkitError
from .recording.authoring import Script
from .recording.cassette import Cassette

REPLAY_PLACEHOLDER_KEY = "replay-mode-no-key"  # Tavily's wrapper insists on a key; replay never sends it


class RecordedTavilyAPI(TavilySearchAPIWrapper):
    """Tavily's API wrapper, answering from a cassette (replay) or calling upstream and saving (record)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    cassette: Any = None
    recording: bool = False
    script: Optional[Any] = None
    speed: float = 0.0

    @staticmethod
    def _params(query: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in {"query": query, **kwargs}.items() if v is not None}

    def _replay(self, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        response = self.cassette.play("search", params)["response"]
        return response["result"], response.get("duration", 0.0) * self.speed

    def _save(self, params: dict[str, Any], result: dict[str, Any], duration: float) -> None:
        origin = "authored" if self.script else "live"
        note = self.script.note if isinstance(self.script, Script) else None
        self.cassette.add("search", params, {"duration": round(duration, 4), "result": result}, origin, note)

    def _scripted(self, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        reply = self.script.search(params["query"])
        return dict(reply.result), reply.duration

    def raw_results(self, query: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        params = self._params(query, kwargs)
        if not self.recording:
            result, wait = self._replay(params)
            time.sleep(wait)
            return result
        start = time.monotonic()
        if self.script:
            result, duration = self._scripted(params)
        else:
            result = super().raw_results(query=query, **kwargs)
            duration = time.monotonic() - start
        self._save(params, result, duration)
        return result

    async def raw_results_async(self, query: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        params = self._params(query, kwargs)
        if not self.recording:
            result, wait = self._replay(params)
            await asyncio.sleep(wait)
            return result
        start = time.monotonic()
        if self.script:
            result, duration = self._scripted(params)
        else:
            result = await super().raw_results_async(query=query, **kwargs)
            duration = time.monotonic() - start
        self._save(params, result, duration)
        return result


class LessonTavilySearch(TavilySearch):  # type: ignore[override]
    """TavilySearch that lets lessonkit's own errors through.

    TavilySearch turns every exception into a result ``{"error": ...}`` the model sees; a missing
    recording must stop the lesson with its diff instead of quietly becoming a tool result.
    """

    def _run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _reraise(super()._run(*args, **kwargs))

    async def _arun(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _reraise(await super()._arun(*args, **kwargs))


def _reraise(result: dict[str, Any]) -> dict[str, Any]:
    if isinstance(result, dict) and isinstance(result.get("error"), LessonkitError):
        raise result["error"]
    return result


def recorded_search(
    cassette: Cassette, *, recording: bool, script: Script | None = None, api_key: str | None = None, speed: float = 0.0,
    api_base_url: str | None = None, **tool_args: Any,
) -> TavilySearch:
    """A TavilySearch whose API calls go through the cassette (``api_base_url``: a Tavily-compatible server)."""
    wrapper = RecordedTavilyAPI(
        tavily_api_key=api_key or REPLAY_PLACEHOLDER_KEY, api_base_url=api_base_url, cassette=cassette, recording=recording,
        script=script, speed=speed,
    )
    return LessonTavilySearch(api_wrapper=wrapper, **tool_args)
