"""A small typed client for a served agent, and the bridge that lets lessonkit's panels watch it.

``agent = ServedAgent("http://127.0.0.1:8000")`` talks to ``lessonkit serve`` (or any
``create_app``): ``agent.stream(thread_id, message)`` yields the wire events of one turn (SSE, parsed
with httpx-sse), ``agent.resume(thread_id, "approve")`` answers an interrupt, and ``threads``,
``history``, ``state``, ``clear``, ``delete``, ``health``, ``info`` wrap the thread API.

``agent.lessonkit_events(inputs, config)`` rebuilds lessonkit's own StreamEvents from the wire
(``WireEventReader``), so ``lessonkit.stream.adapters.watch`` and therefore one ``Dashboard`` show a
local graph or a served one alike: ``await dash.run(agent, {"messages": [...]}, {"configurable": {"thread_id": "t1"}})``.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
from httpx_sse import EventSource
from langgraph.types import Command

from lessonkit.errors import LessonkitError
from lessonkit.stream.adapters import tool_error_text
from lessonkit.stream.events import (
    CheckpointSaved, Custom, InterruptRaised, ModelEnd, ModelStart, NodeEnd, NodeStart, RunEnd, RunStart, StreamEvent, Token,
    ToolDecision, ToolEnd, ToolStart,
)

Clock = Callable[[], float]
WireEvent = dict[str, Any]
WATCH_EXTRAS: tuple[str, ...] = ("nodes", "model", "tools")  # what the panels and timings need beyond the core events
DEFAULT_TIMEOUT_S = 30.0
_NOTHING: Any = object()


class ServedAgentError(LessonkitError):
    """The server refused a request (``status``: 404, 409, 422, 503, ...); ``detail`` is its explanation."""

    def __init__(self, status: int, detail: str, method: str = "", path: str = "") -> None:
        self.status, self.detail = status, detail
        super().__init__(f"{method} {path} answered {status}: {detail}".strip())


class ServedRunError(LessonkitError):
    """A served run ended with an ``error`` event (``code``: timeout, busy, failed, ...)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"the served run failed ({code}): {message}")


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


class WireEventReader:
    """Wire events (dicts) in, lessonkit StreamEvents out: the inverse of ``lessonkit.serve.events.to_wire``.

    Times are this side's (seconds since the reader was made, i.e. since the request was sent), except a
    model call's start: the server's ``t`` (its node's start) counted from the ``metadata`` event's arrival,
    kept between the previous event and now, so the events' times never go backwards.
    """

    def __init__(self, thread_id: str | None = None, clock: Clock | None = None) -> None:
        began = time.monotonic()
        self.clock: Clock = clock or (lambda: time.monotonic() - began)
        self.sent_at = self.clock()
        self.thread_id = thread_id
        self.run_id: str | None = None
        self.metadata_at: float | None = None
        self.ended = False
        self.error: ServedRunError | None = None
        self.last_t = self.sent_at  # events keep one clock moving forward

    def feed(self, wire: Mapping[str, Any]) -> list[StreamEvent]:
        t, kind = self.clock(), wire.get("type")
        handler = getattr(self, f"_on_{kind}", None)
        out = handler(wire, t) if handler is not None else []
        self.last_t = max([self.last_t, *(e.t for e in out)])
        return out

    def stopped(self, error: BaseException) -> RunEnd:
        """The RunEnd for a stream this side stopped reading (cancelled, or the connection failed)."""
        self.ended = True
        cancelled = isinstance(error, (KeyboardInterrupt, GeneratorExit)) or type(error).__name__ == "CancelledError"
        return RunEnd(self.clock(), self.run_id or "", "cancelled" if cancelled else "error",
                      None if cancelled else f"{type(error).__name__}: {error}")

    def _on_metadata(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.run_id, self.metadata_at = wire.get("run_id") or "", t
        self.thread_id = wire.get("thread_id") or self.thread_id
        return [RunStart(self.sent_at, self.run_id, self.thread_id, "served")]

    def _on_model_start(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        server_t = wire.get("t")
        start = min(t, self.metadata_at + server_t) if isinstance(server_t, (int, float)) and self.metadata_at is not None else t
        start = max(start, self.last_t)  # never before what already arrived (the two clocks differ a little)
        return [ModelStart(start, wire["call_id"], wire.get("node") or "?", wire.get("step"), tuple(wire.get("namespace") or ()), wire.get("model"))]

    def _on_token(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [Token(t, wire.get("call_id") or "model", wire.get("content") or "")]

    def _on_tool_args(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [Token(t, wire.get("call_id") or "model", wire.get("content") or "", "tool_args", wire.get("index"), wire.get("name"))]

    def _on_model_end(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [ModelEnd(t, wire["call_id"], wire.get("node") or "?", wire.get("step"), wire.get("content") or "", int(wire.get("chunks") or 0),
                         wire.get("input_tokens"), wire.get("output_tokens"), wire.get("finish_reason"), (), tuple(wire.get("namespace") or ()))]

    def _on_tool_call(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [ToolDecision(t, wire["name"], dict(wire.get("args") or {}), wire.get("id") or "", wire.get("call_id") or "",
                             wire.get("node") or "?", wire.get("step"))]

    def _on_tool_start(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [ToolStart(t, wire["name"], wire.get("id"), dict(wire.get("args") or {}), wire.get("node"))]

    def _on_tool_result(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        content = str(wire.get("content", ""))
        error = tool_error_text(content) if wire.get("status") == "error" else None  # stripped once, as the local adapter does
        return [ToolEnd(t, wire["name"], wire.get("id"), content, error, wire.get("node"))]

    def _on_interrupt(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [InterruptRaised(t, wire.get("value"), wire.get("id"), tuple(wire.get("namespace") or ()))]

    def _on_node_start(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [NodeStart(t, wire["node"], wire.get("step"), "", tuple(wire.get("namespace") or ()))]

    def _on_node_end(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [NodeEnd(t, wire["node"], wire.get("step"), "", tuple(wire.get("namespace") or ()), tuple(wire.get("writes") or ()), wire.get("error"))]

    def _on_checkpoint(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [CheckpointSaved(t, wire["checkpoint_id"], wire.get("step"), wire.get("source"), tuple(wire.get("next") or ()),
                                int(wire.get("message_count") or 0), tuple(wire.get("namespace") or ()))]

    def _on_custom(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        return [Custom(t, wire.get("data"), wire.get("node"))]

    def _on_end(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.ended = True
        status = wire.get("status") if wire.get("status") in ("done", "interrupted", "cancelled") else "done"
        return [RunEnd(t, wire.get("run_id") or self.run_id or "", status)]

    def _on_error(self, wire: Mapping[str, Any], t: float) -> list[StreamEvent]:
        self.ended = True
        code, message = str(wire.get("error") or "failed"), str(wire.get("message") or "")
        self.error = ServedRunError(code, message)
        out: list[StreamEvent] = [] if self.metadata_at is not None else [RunStart(self.sent_at, wire.get("run_id") or "", self.thread_id, "served")]
        return out + [RunEnd(t, wire.get("run_id") or self.run_id or "", "error", f"{code}: {message}")]


_SHOWN_FIELDS = ("name", "args", "status", "error", "message", "content")


def describe(event: Mapping[str, Any], limit: int = 90) -> str:
    """One short line for a wire event: its id, its type and the fields worth reading (ids left out)."""
    head = f"{event.get('event_id', ''):>3} {event.get('type')}".strip()
    if event.get("type") == "interrupt" and isinstance(event.get("value"), Mapping):
        value = event["value"]
        calls = ", ".join(f"{c.get('name')}({json.dumps(c.get('args'), ensure_ascii=False)})" for c in value.get("tool_calls") or ())
        return f"{head}: {value.get('question', '')} {calls}".rstrip()
    parts = []
    for key in _SHOWN_FIELDS:
        if key in event and event[key] not in (None, ""):
            value = event[key] if isinstance(event[key], str) else json.dumps(event[key], ensure_ascii=False)
            parts.append(f"{key}={value if len(value) <= limit else value[: limit - 1] + '…'}")
    return f"{head} " + " ".join(parts) if parts else head


class EventPrinter:
    """Prints wire events as they come: answer tokens run on in one line, every other event on its own."""

    def __init__(self) -> None:
        self.inline = False

    def __call__(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "token":
            print(event.get("content", ""), end="")
            self.inline = True
            return
        if self.inline:
            print()
            self.inline = False
        print(describe(event))


def show(events: Any) -> None:
    """Print a list of wire events (tokens as running text)."""
    printer = EventPrinter()
    for event in events:
        printer(event)
    if printer.inline:
        print()
