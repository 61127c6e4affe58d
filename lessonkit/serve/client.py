"""A small typed client for a served agent, and the bridge that lets lessonkit's panels watch it.

``agent = ServedAgent("http://127.0.0.1:8000")`` talks to ``lessonkit serve`` (or any
``create_app``): ``agent.stream(thread_id, message)`` yields the wire events of one turn (SSE, parsed
with httpx-sse), ``agent.resume(thread_id, "approve")`` answers an interrupt, and ``threads``,
``history``, ``state``, ``clear``, ``delete``, ``health``, ``info`` wrap the thread API.

``agent.lessonkit_events(inputs, config)`` rebuilds lessonkit's own StreamEvents from the wire
(``WireEventReader``, wire_reader.py), so ``lessonkit.stream.adapters.watch`` and therefore one ``Dashboard``
show a local graph or a served one alike: ``await dash.run(agent, {"messages": [...]}, {"configurable": {"thread_id": "t1"}})``.
``describe``, ``EventPrinter`` and ``show`` (printing.py) print wire events; they are importable from here too.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
from httpx_sse import EventSource
from langgraph.types import Command

from lessonkit.errors import LessonkitError
from lessonkit.stream.events import RunStart, StreamEvent

from .printing import EventPrinter, describe, show
from .wire_reader import ServedRunError, WireEventReader

Clock = Callable[[], float]
WireEvent = dict[str, Any]
WATCH_EXTRAS: tuple[str, ...] = ("nodes", "model", "tools")  # what the panels and timings need beyond the core events
DEFAULT_TIMEOUT_S = 30.0
_NOTHING: Any = object()
__all__ = [
    "EventPrinter", "ServedAgent", "ServedAgentError", "ServedRunError", "WireEventReader", "describe", "message_text", "show",
]


class ServedAgentError(LessonkitError):
    """The server refused a request (``status``: 404, 409, 422, 503, ...); ``detail`` is its explanation."""

    def __init__(self, status: int, detail: str, method: str = "", path: str = "") -> None:
        self.status, self.detail = status, detail
        super().__init__(f"{method} {path} answered {status}: {detail}".strip())


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _as_list(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class ServedAgent:
    """A served agent at ``base_url`` (``token``: a bearer token, when the server has a tokens file)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ServedAgent({self.base_url!r})"

    def _client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        # read=None: a stream may be quiet between heartbeats for longer than any fixed read timeout
        timeout = httpx.Timeout(self.timeout, read=None)
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)

    # -- streaming -------------------------------------------------------------------------------
    async def stream(self, thread_id: str, message: str | None = None, *, resume: Any = _NOTHING,
                     stream_mode: str | list[str] | None = None, multitask: str | None = None,
                     on_disconnect: str | None = None) -> AsyncIterator[WireEvent]:
        """One turn (``message``) or an interrupt's answer (``resume``) over SSE: its events, each with ``event_id``.

        Ends after the run's ``end`` or ``error`` event (the server's ``[DONE]``); heartbeats are skipped.
        Leaving the loop early closes the connection: a disconnect (``on_disconnect`` decides what the run does).
        """
        if (message is None) == (resume is _NOTHING):
            raise ValueError("pass exactly one of message and resume")
        body: dict[str, Any] = {"message": message} if message is not None else {"resume": resume}
        for key, value in (("stream_mode", stream_mode), ("multitask", multitask), ("on_disconnect", on_disconnect)):
            if value is not None:
                body[key] = value
        path = f"/threads/{thread_id}/runs/stream"
        async with self._client() as client, client.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise ServedAgentError(response.status_code, _detail(response), "POST", path)
            async for sse in EventSource(response).aiter_sse():
                if not sse.data:  # a heartbeat comment
                    continue
                if sse.data == "[DONE]":
                    return
                yield {**json.loads(sse.data), "event_id": int(sse.id) if sse.id else None}

    def resume(self, thread_id: str, value: Any, **options: Any) -> AsyncIterator[WireEvent]:
        """Answer the thread's pending interrupt (``"approve"``, ``"reject"`` or a reason) and stream the rest."""
        return self.stream(thread_id, resume=value, **options)

    async def lessonkit_events(self, inputs: Any, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None,
                               stream_mode: str | list[str] | None = None, **options: Any) -> AsyncIterator[StreamEvent]:
        """Run one turn on the server and yield lessonkit StreamEvents, RunStart first and RunEnd last (as ``watch``).

        ``inputs`` as for a local graph: ``{"messages": [HumanMessage(...)]}`` (the last message is sent),
        a string, or ``Command(resume=...)``; ``config["configurable"]["thread_id"]`` names the thread.
        """
        thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
        if not thread_id:
            raise ValueError('a served agent needs a thread: pass config={"configurable": {"thread_id": "..."}}')
        modes = list(dict.fromkeys([*WATCH_EXTRAS, *_as_list(stream_mode)]))
        reader = WireEventReader(str(thread_id), clock)
        resume = inputs.resume if isinstance(inputs, Command) else _NOTHING
        message = None if resume is not _NOTHING else message_text(inputs)
        started = False
        try:
            async for wire in self.stream(str(thread_id), message, resume=resume, stream_mode=modes, **options):
                for event in reader.feed(wire):
                    started = started or isinstance(event, RunStart)
                    yield event
        except GeneratorExit:  # the caller stopped reading: nothing may be yielded any more
            raise
        except BaseException as error:
            if started and not reader.ended:
                yield reader.stopped(error)
            raise
        if reader.error is not None:
            raise reader.error

    # -- the thread API --------------------------------------------------------------------------
    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._client() as client:
            response = await client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ServedAgentError(response.status_code, _detail(response), method, path)
        return None if response.status_code == 204 or not response.content else response.json()

    async def threads(self) -> list[str]:
        """The caller's thread ids."""
        return [t["thread_id"] for t in (await self._call("GET", "/threads"))["threads"]]

    async def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's messages, oldest first (``type``, ``content``, ``time``, ...)."""
        return list((await self._call("GET", f"/threads/{thread_id}/history"))["messages"])

    async def state(self, thread_id: str) -> dict[str, Any]:
        """The thread's latest checkpoint: ``next``, ``values``, ``interrupts``, ``checkpoint_id``, ..."""
        return dict(await self._call("GET", f"/threads/{thread_id}/state"))

    async def clear(self, thread_id: str) -> list[dict[str, Any]]:
        """Remove every message (the thread stays); returns the messages left (none)."""
        return list((await self._call("PUT", f"/threads/{thread_id}/clear"))["messages"])

    async def delete(self, thread_id: str) -> None:
        """Forget the thread (the server answers 204; afterwards its routes answer 404)."""
        await self._call("DELETE", f"/threads/{thread_id}")

    async def health(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/health"))

    async def info(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/info"))


def message_text(inputs: Any) -> str:
    """The user's turn in a local graph's input: a string, or the last of ``{"messages": [...]}``."""
    if isinstance(inputs, str):
        return inputs
    messages = inputs.get("messages") if isinstance(inputs, Mapping) else None
    if isinstance(messages, (list, tuple)) and messages:
        last = messages[-1]
    elif messages is not None and not isinstance(messages, (list, tuple)):
        last = messages
    else:
        raise ValueError('a served agent takes one new message: {"messages": [HumanMessage("...")]}, a string, or Command(resume=...)')
    if isinstance(last, str):
        return last
    if isinstance(last, tuple) and len(last) == 2:
        return str(last[1])
    if isinstance(last, Mapping):
        return str(last.get("content", ""))
    content = getattr(last, "content", None)
    if isinstance(content, str):
        return content
    raise ValueError(f"cannot send {type(last).__name__} to a served agent: send its text")
