"""The lesson's search tool: langchain-tavily's TavilySearch, with its API calls recorded or replayed.

The tool object is the real ``TavilySearch`` (same name, description and argument schema in every
mode, so the model's request is the same as live); only its API wrapper is swapped for one that reads
or writes the lesson's recording.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Optional

from langchain_tavily import TavilySearch
# Private module: langchain-tavily exports no public path to the wrapper TavilySearch's ``api_wrapper`` field takes.
# tests/test_private_apis.py fails, saying so, if it moves or stops being that field's type.
from langchain_tavily._utilities import TavilySearchAPIWrapper
from pydantic import ConfigDict

from .errors import LessonkitError
from .redact import redact_exception
from .recording.authoring import Script
from .recording.cassette import Cassette

REPLAY_PLACEHOLDER_KEY = "replay-mode-no-key"  # Tavily's wrapper insists on a key; replay never sends it
BASE_URL_VARIABLE = "TAVILY_API_BASE_URL"  # a Tavily-compatible server for live and record mode (as OPENAI_BASE_URL)
# The agent runs a turn's tool calls at once (threads when sync): one search at a time reads or writes the cassette.
_CASSETTE_TURN = threading.Lock()


class SearchUpstreamError(LessonkitError):
    """A search failed upstream while recording: nothing is recorded for it and the record run fails with the cause."""


def upstream_error(params: dict[str, Any], error: BaseException) -> SearchUpstreamError:
    """The record run's error for a failed search: the query, the real cause (redacted), and what to check."""
    cause = redact_exception(error)
    return SearchUpstreamError(
        f"the search {params.get('query')!r} failed upstream while recording ({type(cause).__name__}: {cause}). "
        f"Nothing was recorded for it. Check TAVILY_API_KEY, the network (or {BASE_URL_VARIABLE} for a local "
        "Tavily-compatible server), then record again; --missing-only keeps what is already recorded.")


class RecordedTavilyAPI(TavilySearchAPIWrapper):
    """Tavily's API wrapper, answering from a cassette (replay) or calling upstream and saving (record)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    cassette: Any = None
    recording: bool = False
    script: Optional[Any] = None
    speed: float = 0.0
    replay_known: bool = False  # record --missing-only: a search already recorded is replayed, not asked again

    @staticmethod
    def _params(query: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in {"query": query, **kwargs}.items() if v is not None}

    def _replay(self, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        with _CASSETTE_TURN:
            response = self.cassette.play("search", params)["response"]
        return response["result"], response.get("duration", 0.0) * self.speed

    def _save(self, params: dict[str, Any], result: dict[str, Any], duration: float) -> None:
        origin = "authored" if self.script else "live"
        note = self.script.note if isinstance(self.script, Script) else None
        with _CASSETTE_TURN:
            self.cassette.add("search", params, {"duration": round(duration, 4), "result": result}, origin, note)

    def _scripted(self, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        with _CASSETTE_TURN:
            reply = self.script.search(params["query"])
        return dict(reply.result), reply.duration

    def _answered_here(self, params: dict[str, Any]) -> bool:
        """Replay (or keep, under --missing-only) instead of asking upstream."""
        with _CASSETTE_TURN:
            return not self.recording or (self.replay_known and self.cassette.has("search", params))

    def raw_results(self, query: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        params = self._params(query, kwargs)
        if self._answered_here(params):
            result, wait = self._replay(params)
            time.sleep(wait)
            return result
        start = time.monotonic()
        if self.script:
            result, duration = self._scripted(params)
        else:
            try:
                result = super().raw_results(query=query, **kwargs)
            except Exception as error:  # noqa: BLE001 - any upstream failure ends the record run with its cause
                raise upstream_error(params, error) from None
            duration = time.monotonic() - start
        self._save(params, result, duration)
        return result

    async def raw_results_async(self, query: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        params = self._params(query, kwargs)
        if self._answered_here(params):
            result, wait = self._replay(params)
            await asyncio.sleep(wait)
            return result
        start = time.monotonic()
        if self.script:
            result, duration = self._scripted(params)
        else:
            try:
                result = await super().raw_results_async(query=query, **kwargs)
            except Exception as error:  # noqa: BLE001
                raise upstream_error(params, error) from None
            duration = time.monotonic() - start
        self._save(params, result, duration)
        return result


class LessonTavilySearch(TavilySearch):  # type: ignore[override]
    """TavilySearch that lets lessonkit's own errors through, and redacts the others.

    TavilySearch turns every exception into a result ``{"error": ...}`` the model sees; a missing
    recording must stop the lesson with its diff instead of quietly becoming a tool result. Any other
    error stays a result, its text redacted (a proxy's answer may quote the ``Bearer tvly-...`` header).
    """

    def _run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _checked(super()._run(*args, **kwargs))

    async def _arun(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _checked(await super()._arun(*args, **kwargs))


def _checked(result: dict[str, Any]) -> dict[str, Any]:
    """A search result as the model may see it: lessonkit's errors raised, any other error redacted."""
    error = result.get("error") if isinstance(result, dict) else None
    if isinstance(error, LessonkitError):
        raise error
    if isinstance(error, BaseException):
        redact_exception(error)
    return result


def recorded_search(
    cassette: Cassette, *, recording: bool, script: Script | None = None, api_key: str | None = None, speed: float = 0.0,
    api_base_url: str | None = None, replay_known: bool = False, **tool_args: Any,
) -> TavilySearch:
    """A TavilySearch whose API calls go through the cassette (``api_base_url``: a Tavily-compatible server)."""
    wrapper = RecordedTavilyAPI(
        tavily_api_key=api_key or REPLAY_PLACEHOLDER_KEY, api_base_url=api_base_url, cassette=cassette, recording=recording,
        script=script, speed=speed, replay_known=replay_known,
    )
    return LessonTavilySearch(api_wrapper=wrapper, **tool_args)
