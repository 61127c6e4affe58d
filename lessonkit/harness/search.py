"""The lesson's search tool: langchain-tavily's TavilySearch, with its API calls recorded or replayed.

The tool object is the real ``TavilySearch`` (same name, description and argument schema in every
mode, so the model's request is the same as live); only its API wrapper is swapped for one that reads
or writes the lesson's recording.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Iterator, Mapping

from langchain_tavily import TavilySearch
# Private module: langchain-tavily exports no public path to the wrapper TavilySearch's ``api_wrapper`` field takes.
# tests/test_private_apis.py fails, saying so, if it moves or stops being that field's type.
from langchain_tavily._utilities import TavilySearchAPIWrapper
from pydantic import ConfigDict

from ..errors import LessonkitError
from .recording.authoring import Script, ScriptUpstream
from .recording.cassette import Cassette
from .recording.live import RedactingTransport
from .recording.recorder import Answer, Recorder, Replayed, record_mode
from ..support.redact import redact_exception

REPLAY_PLACEHOLDER_KEY = "replay-mode-no-key"  # Tavily's wrapper insists on a key; replay never sends it
BASE_URL_VARIABLE = "TAVILY_API_BASE_URL"  # a Tavily-compatible server for live and record mode (as OPENAI_BASE_URL)


class SearchUpstreamError(LessonkitError):
    """A search failed upstream while recording: nothing is recorded for it and the record run fails with the cause."""


def upstream_error(params: Mapping[str, Any], error: BaseException) -> SearchUpstreamError:
    """The record run's error for a failed search: the query, the real cause (redacted), and what to check."""
    cause = redact_exception(error)
    return SearchUpstreamError(
        f"the search {params.get('query')!r} failed upstream while recording ({type(cause).__name__}: {cause}). "
        f"Nothing was recorded for it. Check TAVILY_API_KEY, the network (or {BASE_URL_VARIABLE} for a local "
        "Tavily-compatible server), then record again; --missing-only keeps what is already recorded.")


@contextlib.contextmanager
def _upstream_errors(query: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:  # noqa: BLE001 - any upstream failure ends the record run with its cause
        raise upstream_error({"query": query}, error) from None


def _timed(result: dict[str, Any], start: float) -> Answer:
    return Answer({"duration": round(time.monotonic() - start, 4), "result": result})


class LiveUpstream:
    """A record run's upstream: OpenAI over HTTP (error bodies redacted), Tavily through its own wrapper.

    The Tavily side is connected by ``search_tool`` (``use_tavily``), so a lesson without search needs no Tavily key.
    """

    def __init__(self, chat: RedactingTransport | None = None, tavily: TavilySearchAPIWrapper | None = None) -> None:
        self.chat = chat or RedactingTransport()
        self.tavily = tavily

    def use_tavily(self, api_key: str | None, api_base_url: str | None) -> None:
        self.tavily = TavilySearchAPIWrapper(tavily_api_key=api_key or REPLAY_PLACEHOLDER_KEY, api_base_url=api_base_url)

    def handle_request(self, request: Any) -> Any:
        return self.chat.handle_request(request)

    async def handle_async_request(self, request: Any) -> Any:
        return await self.chat.handle_async_request(request)

    def search(self, query: str, kwargs: Mapping[str, Any]) -> Answer:
        start = time.monotonic()
        with _upstream_errors(query):
            return _timed(self.tavily.raw_results(query=query, **kwargs), start)  # type: ignore[union-attr]

    async def asearch(self, query: str, kwargs: Mapping[str, Any]) -> Answer:
        start = time.monotonic()
        with _upstream_errors(query):
            return _timed(await self.tavily.raw_results_async(query=query, **kwargs), start)  # type: ignore[union-attr]


def _params(query: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The search as recorded: its arguments without the unset ones."""
    return {k: v for k, v in {"query": query, **kwargs}.items() if v is not None}


def _replayed(replayed: Replayed) -> tuple[dict[str, Any], float]:
    """A replayed search's result, and how long to wait before it arrives."""
    return replayed.response["result"], replayed.response.get("duration", 0.0) * replayed.speed


class RecordedTavilyAPI(TavilySearchAPIWrapper):
    """Tavily's API wrapper, its calls decided by a Recorder: replayed from the cassette, or asked upstream and kept."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    recorder: Any = None

    def raw_results(self, query: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        params = _params(query, kwargs)
        if (replayed := self.recorder.step("search", params)) is None:
            return self.recorder.keep("search", params, self.recorder.upstream.search(query, kwargs)).response["result"]
        result, wait = _replayed(replayed)
        time.sleep(wait)
        return result

    async def raw_results_async(self, query: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        params = _params(query, kwargs)
        if (replayed := self.recorder.step("search", params)) is None:
            return self.recorder.keep("search", params, await self.recorder.upstream.asearch(query, kwargs)).response["result"]
        result, wait = _replayed(replayed)
        await asyncio.sleep(wait)
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


def search_tool(recorder: Recorder, **tool_args: Any) -> TavilySearch:
    """A TavilySearch whose API calls go through ``recorder`` (the one the lesson's model uses too)."""
    return LessonTavilySearch(api_wrapper=RecordedTavilyAPI(tavily_api_key=REPLAY_PLACEHOLDER_KEY, recorder=recorder), **tool_args)


def recorded_search(
    cassette: Cassette, *, recording: bool, script: Script | None = None, api_key: str | None = None, speed: float = 0.0,
    api_base_url: str | None = None, replay_known: bool = False, **tool_args: Any,
) -> TavilySearch:
    """A TavilySearch over its own Recorder (``api_base_url``: a Tavily-compatible server)."""
    if script is not None:
        upstream: Any = ScriptUpstream(script)
    else:
        upstream = LiveUpstream()
        upstream.use_tavily(api_key, api_base_url)
    mode = record_mode(recording=recording, script=script is not None, extend=replay_known)
    return search_tool(Recorder(cassette, mode, upstream, speed), **tool_args)
