"""The chat transport: ChatOpenAI's HTTP answered through a Recorder, replayed or asked upstream and kept.

Like httpx's own transports it fills ``handle_request`` / ``handle_async_request`` and nothing else, so
``ChatOpenAI(http_client=httpx.Client(transport=...))`` runs its real code path (request building, SSE
decoding, retries) while the bytes come from a recording. Each is a thin shell around one ``ChatExchange``.
"""
from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any, AsyncIterator, Iterator, Literal

import httpx

from ...errors import LessonkitError
from ...support.redact import redact
from .cassette import Cassette, response_from_dict
from .live import RedactingTransport
from .recorder import Answer, Recorder, RecordMode
from .wire import ChatResponse, StreamCapture, json_body, response_from_json, sse_events, wants_stream, wants_usage

CHAT_PATH = "/chat/completions"
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
Flavour = Literal["sync", "async"]


def chat_body(request: httpx.Request) -> dict[str, Any]:
    """The JSON body of a chat-completions request; anything else is not ours to fake."""
    if request.method != "POST" or not request.url.path.endswith(CHAT_PATH):
        raise LessonkitError(
            f"lessonkit records and replays only POST {CHAT_PATH}; this client asked for {request.method} {request.url.path}."
        )
    return json.loads(request.read())


DEFAULT_RETRY_MS = 500.0  # the OpenAI client's first back-off when the server names no delay


def _error_headers(response: ChatResponse, speed: float) -> dict[str, str]:
    """Recorded error headers, with the retry delay scaled by the replay speed.

    The client still retries exactly as it did live (the recording holds the retried requests in
    order); it just waits ``speed`` times the recorded delay, so speed 0 replays a 429 at once.
    """
    headers = {k: v for k, v in response.headers.items() if k not in ("retry-after", "retry-after-ms")}
    recorded_ms = DEFAULT_RETRY_MS
    try:
        if "retry-after-ms" in response.headers:
            recorded_ms = float(response.headers["retry-after-ms"])
        elif "retry-after" in response.headers:
            recorded_ms = float(response.headers["retry-after"]) * 1000
    except ValueError:
        pass
    return {"content-type": "application/json", **headers, "retry-after-ms": f"{max(recorded_ms * speed, 1.0):g}"}


# -- serving a recorded response ----------------------------------------------------------------
def _paced(events: list[tuple[float, bytes]], speed: float) -> Iterator[bytes]:
    start = time.monotonic()
    for offset, data in events:
        wait = offset * speed - (time.monotonic() - start)
        if wait > 0:
            time.sleep(wait)
        yield data


async def _apaced(events: list[tuple[float, bytes]], speed: float) -> AsyncIterator[bytes]:
    start = time.monotonic()
    for offset, data in events:
        wait = offset * speed - (time.monotonic() - start)
        if wait > 0:
            await asyncio.sleep(wait)
        yield data


def _whole_wait(response: ChatResponse, body: dict[str, Any], speed: float) -> float:
    """How long a non-streamed answer (or an error) should take before it arrives."""
    return 0.0 if wants_stream(body) and response.status == 200 else response.duration * speed


def serve(response: ChatResponse, body: dict[str, Any], speed: float, flavour: Flavour) -> httpx.Response:
    """Answer a request from a recorded response in the form it asked for: SSE or JSON."""
    if response.status != 200:
        return httpx.Response(response.status, headers=_error_headers(response, speed), content=json_body(response))
    if not wants_stream(body):
        return httpx.Response(200, headers={"content-type": "application/json"}, content=json_body(response))
    events = sse_events(response, include_usage=wants_usage(body))
    stream = _paced(events, speed) if flavour == "sync" else _apaced(events, speed)
    return httpx.Response(200, headers=SSE_HEADERS, content=stream)


class ChatExchange:
    """One chat request, from the Recorder's decision to the caller's response: every step but the I/O.

    Asked upstream, the request always wants a stream with usage, so every recording keeps its chunks and
    their timing; the caller still gets the form it asked for. Headers (and so API keys) go upstream only:
    the cassette stores the canonical body and the response, never a header.
    """

    def __init__(self, recorder: Recorder, request: httpx.Request, flavour: Flavour) -> None:
        self.recorder, self.request, self.flavour = recorder, request, flavour
        self.body = chat_body(request)
        self.replayed = recorder.step("chat", self.body)
        self.start = time.monotonic()
        self.capture = StreamCapture()

    # -- replayed ---------------------------------------------------------------------------
    @property
    def wait(self) -> float:
        """How long a replayed non-streamed answer (or an error) should take before it arrives."""
        assert self.replayed is not None
        return _whole_wait(self._recorded, self.body, self.replayed.speed)

    def replay(self) -> httpx.Response:
        assert self.replayed is not None
        return serve(self._recorded, self.body, self.replayed.speed, self.flavour)

    @functools.cached_property
    def _recorded(self) -> ChatResponse:
        assert self.replayed is not None
        return response_from_dict(self.replayed.response)

    # -- asked upstream ---------------------------------------------------------------------
    def upstream_request(self) -> httpx.Request:
        upgraded = {**self.body, "stream": True, "stream_options": {"include_usage": True}}
        headers = [(k, v) for k, v in self.request.headers.items() if k.lower() not in ("content-length", "accept-encoding")]
        headers.append(("accept-encoding", "identity"))  # SSE must arrive readable to be recorded
        return httpx.Request(self.request.method, self.request.url, headers=headers, content=json.dumps(upgraded).encode(),
                             extensions=self.request.extensions)

    def clock(self) -> float:
        return time.monotonic() - self.start

    def relays(self, reply: httpx.Response | Answer) -> bool:
        """A live stream the caller wants streamed: pass it on as it arrives, recording on the way."""
        return isinstance(reply, httpx.Response) and _is_ok_stream(reply) and wants_stream(self.body)

    def relay(self, raws: Iterator[bytes] | AsyncIterator[bytes]) -> httpx.Response:
        return httpx.Response(200, headers=SSE_HEADERS, content=raws)

    def tee(self, t: float, part: bytes) -> list[bytes]:
        """Feed one upstream part; record as soon as [DONE] arrives (clients stop reading right there)."""
        raws = [raw for raw, is_usage in self.capture.feed(part, t) if not is_usage or wants_usage(self.body)]
        if self.capture.done and not self.capture.recorded:
            self.capture.recorded = True
            self._keep(Answer(self.capture.finish(self.clock())))
        return raws

    def answer(self, reply: httpx.Response | Answer, parts: list[tuple[float, bytes]]) -> httpx.Response:
        """Record an answer that came whole (a script's, an error, JSON, or a stream read for a JSON caller), and serve it.

        An error body is redacted first: it is both recorded and what the client's exception quotes. An error
        passes its real retry delay on (speed 1); an answer already took its time (speed 0).
        """
        if isinstance(reply, Answer):
            answer = reply
        elif _is_ok_stream(reply):
            for t, part in parts:
                self.capture.feed(part, t)
            answer = Answer(self.capture.finish(self.clock()))
        else:
            text = b"".join(part for _, part in parts).decode("utf-8")
            text = text if reply.status_code == 200 else redact(text)
            answer = Answer(response_from_json(reply.status_code, text, round(self.clock(), 4), reply.headers))
        self._keep(answer)
        return serve(answer.response, self.body, 1.0 if answer.response.status != 200 else 0.0, self.flavour)

    def _keep(self, answer: Answer) -> None:
        self.recorder.keep("chat", self.body, answer)


def _is_ok_stream(response: httpx.Response) -> bool:
    return response.status_code == 200 and "text/event-stream" in response.headers.get("content-type", "")


def _timed(exchange: ChatExchange, reply: httpx.Response | Answer) -> Iterator[tuple[float, bytes]]:
    """An upstream response's parts as they arrive, each with its time; closed at the end (an Answer has none)."""
    if isinstance(reply, httpx.Response):
        try:
            for part in reply.stream:
                yield exchange.clock(), part
        finally:
            reply.close()


async def _atimed(exchange: ChatExchange, reply: httpx.Response | Answer) -> AsyncIterator[tuple[float, bytes]]:
    if isinstance(reply, httpx.Response):
        try:
            async for part in reply.stream:
                yield exchange.clock(), part
        finally:
            await reply.aclose()


def _relay(exchange: ChatExchange, timed: Iterator[tuple[float, bytes]]) -> Iterator[bytes]:
    for t, part in timed:
        yield from exchange.tee(t, part)


async def _arelay(exchange: ChatExchange, timed: AsyncIterator[tuple[float, bytes]]) -> AsyncIterator[bytes]:
    async for t, part in timed:
        for raw in exchange.tee(t, part):
            yield raw


class ChatTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """ChatOpenAI's transport outside live mode: the Recorder decides, the upstream answers what it does not replay."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @property
    def upstream(self) -> Any:
        return self.recorder.upstream

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = ChatExchange(self.recorder, request, "sync")
        if exchange.replayed is not None:
            if wait := exchange.wait:
                time.sleep(wait)
            return exchange.replay()
        reply = self.upstream.handle_request(exchange.upstream_request())
        timed = _timed(exchange, reply)
        return exchange.relay(_relay(exchange, timed)) if exchange.relays(reply) else exchange.answer(reply, list(timed))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = ChatExchange(self.recorder, request, "async")
        if exchange.replayed is not None:
            if wait := exchange.wait:
                await asyncio.sleep(wait)
            return exchange.replay()
        reply = await self.upstream.handle_async_request(exchange.upstream_request())
        timed = _atimed(exchange, reply)
        return exchange.relay(_arelay(exchange, timed)) if exchange.relays(reply) else exchange.answer(reply, [x async for x in timed])


def ReplayTransport(cassette: Cassette, speed: float = 0.0) -> ChatTransport:  # noqa: N802 - the class name it had
    """Strict replay: every request must be in the cassette; nothing touches the network."""
    return ChatTransport(Recorder(cassette, RecordMode.REPLAY, speed=speed))


def RecordingTransport(cassette: Cassette, upstream: httpx.BaseTransport | None = None,  # noqa: N802
                       async_upstream: httpx.AsyncBaseTransport | None = None, *, extend: bool = False) -> ChatTransport:
    """Every request asked upstream (live HTTP, error bodies redacted) and recorded; ``extend``: known ones replayed."""
    mode = RecordMode.EXTEND if extend else RecordMode.RECORD
    return ChatTransport(Recorder(cassette, mode, RedactingTransport(upstream, async_upstream)))
