"""httpx transports that replay or record OpenAI chat traffic under the real ChatOpenAI client.

Like httpx's own transports, each fills ``handle_request`` / ``handle_async_request`` and nothing
else, so ``ChatOpenAI(http_client=httpx.Client(transport=...))`` runs its real code path (request
building, SSE decoding, retries) while the bytes come from a recording.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator, Iterator, Literal

import httpx
from httpx._utils import get_environment_proxies  # the same reading of proxy variables httpx's default client does

from ..errors import LessonkitError
from ..redact import redact
from .cassette import Cassette, Origin
from .wire import ChatResponse, StreamCapture, json_body, response_from_json, sse_events, wants_stream, wants_usage

CHAT_PATH = "/chat/completions"
# An authoring upstream hangs these on its response: the note, and the response it synthesized
# (whose timing is the scripted one, not how fast the script happened to run).
NOTE_EXTENSION = "lessonkit_note"
AUTHORED_EXTENSION = "lessonkit_authored_response"


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


def serve(response: ChatResponse, body: dict[str, Any], speed: float, flavour: Literal["sync", "async"]) -> httpx.Response:
    """Answer a request from a recorded response in the form it asked for: SSE or JSON."""
    if response.status != 200:
        return httpx.Response(response.status, headers=_error_headers(response, speed), content=json_body(response))
    if not wants_stream(body):
        return httpx.Response(200, headers={"content-type": "application/json"}, content=json_body(response))
    events = sse_events(response, include_usage=wants_usage(body))
    stream = _paced(events, speed) if flavour == "sync" else _apaced(events, speed)
    return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, content=stream)


class ReplayTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Strict replay: every request must be in the cassette; nothing touches the network."""

    def __init__(self, cassette: Cassette, speed: float = 0.0) -> None:
        self.cassette = cassette
        self.speed = speed

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = chat_body(request)
        response = self.cassette.chat_response(body)
        if wait := _whole_wait(response, body, self.speed):
            time.sleep(wait)
        return serve(response, body, self.speed, "sync")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = chat_body(request)
        response = self.cassette.chat_response(body)
        if wait := _whole_wait(response, body, self.speed):
            await asyncio.sleep(wait)
        return serve(response, body, self.speed, "async")


# -- recording ----------------------------------------------------------------------------------
class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends each request upstream as a stream with usage on, passes the answer on, and records it.

    Asking upstream for a stream even when the caller did not means every recording keeps its chunks
    and their timing; the caller still gets the form it asked for. Headers (and so API keys) go
    upstream only: the cassette stores the canonical body and the response, never a header.
    """

    def __init__(
        self,
        cassette: Cassette,
        upstream: httpx.BaseTransport | None = None,
        async_upstream: httpx.AsyncBaseTransport | None = None,
        origin: Origin = "live",
        replay_known: bool = False,
    ) -> None:
        self.cassette = cassette
        self.upstream = upstream or httpx.HTTPTransport()
        self.async_upstream = async_upstream or httpx.AsyncHTTPTransport()
        self.origin = origin
        self.replay_known = replay_known

    def _known(self, body: dict[str, Any]) -> ChatResponse | None:
        return self.cassette.chat_response(body) if self.replay_known and self.cassette.has("chat", body) else None

    @staticmethod
    def _upstream_request(request: httpx.Request, body: dict[str, Any]) -> httpx.Request:
        upgraded = {**body, "stream": True, "stream_options": {"include_usage": True}}
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("content-length", "accept-encoding")]
        headers.append(("accept-encoding", "identity"))  # SSE must arrive readable to be recorded
        return httpx.Request(request.method, request.url, headers=headers, content=json.dumps(upgraded).encode(), extensions=request.extensions)

    def _record(self, body: dict[str, Any], response: ChatResponse, upstream: httpx.Response) -> None:
        response = upstream.extensions.get(AUTHORED_EXTENSION, response)
        self.cassette.add_chat(body, response, self.origin, note=upstream.extensions.get(NOTE_EXTENSION))

    def _answer_whole(
        self, body: dict[str, Any], upstream: httpx.Response, content: bytes, duration: float, flavour: Literal["sync", "async"]
    ) -> httpx.Response:
        """Record an upstream answer that came whole (JSON or an error) and pass it on.

        An error body is redacted first: it is both recorded and what the client's exception quotes.
        """
        text = content.decode("utf-8")
        if upstream.status_code != 200:
            text = redact(text)
        response = response_from_json(upstream.status_code, text, round(duration, 4), upstream.headers)
        self._record(body, response, upstream)
        # An error passes its real retry delay on (speed 1); an answer already took its time (speed 0).
        return serve(response, body, 1.0 if response.status != 200 else 0.0, flavour)

    def _answer_captured(self, body: dict[str, Any], upstream: httpx.Response, capture: StreamCapture, duration: float) -> httpx.Response:
        """Record a stream read to its end for a caller that asked for plain JSON."""
        response = capture.finish(duration)
        self._record(body, response, upstream)
        return serve(response, body, 0.0, "sync")

    def _tee(self, body: dict[str, Any], capture: StreamCapture, part: bytes, start: float, upstream: httpx.Response) -> list[bytes]:
        """Feed one upstream part; record as soon as [DONE] arrives (clients stop reading right there)."""
        raws = [raw for raw, is_usage in capture.feed(part, time.monotonic() - start) if not is_usage or wants_usage(body)]
        if capture.done and not capture.recorded:
            capture.recorded = True
            self._record(body, capture.finish(time.monotonic() - start), upstream)
        return raws

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = chat_body(request)
        known = self._known(body)
        if known is not None:
            return serve(known, body, 0.0, "sync")
        start = time.monotonic()
        upstream = self.upstream.handle_request(self._upstream_request(request, body))
        if not _is_ok_stream(upstream):
            content = b"".join(upstream.stream)
            upstream.close()
            return self._answer_whole(body, upstream, content, time.monotonic() - start, "sync")
        capture = StreamCapture()
        if not wants_stream(body):
            for part in upstream.stream:
                capture.feed(part, time.monotonic() - start)
            upstream.close()
            return self._answer_captured(body, upstream, capture, time.monotonic() - start)

        def relay() -> Iterator[bytes]:
            try:
                for part in upstream.stream:
                    yield from self._tee(body, capture, part, start, upstream)
            finally:
                upstream.close()

        return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, content=relay())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = chat_body(request)
        known = self._known(body)
        if known is not None:
            return serve(known, body, 0.0, "async")
        start = time.monotonic()
        upstream = await self.async_upstream.handle_async_request(self._upstream_request(request, body))
        if not _is_ok_stream(upstream):
            content = b"".join([part async for part in upstream.stream])
            await upstream.aclose()
            return self._answer_whole(body, upstream, content, time.monotonic() - start, "async")
        capture = StreamCapture()
        if not wants_stream(body):
            async for part in upstream.stream:
                capture.feed(part, time.monotonic() - start)
            await upstream.aclose()
            return self._answer_captured(body, upstream, capture, time.monotonic() - start)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for part in upstream.stream:
                    for raw in self._tee(body, capture, part, start, upstream):
                        yield raw
            finally:
                await upstream.aclose()

        return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, content=relay())


def _is_ok_stream(response: httpx.Response) -> bool:
    return response.status_code == 200 and "text/event-stream" in response.headers.get("content-type", "")


# -- live ---------------------------------------------------------------------------------------
def _redacted_error(upstream: httpx.Response, content: bytes) -> httpx.Response:
    """An upstream error answer again, its (decoded) body redacted."""
    headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
    extensions = {k: v for k, v in upstream.extensions.items() if k in ("http_version", "reason_phrase")}
    return httpx.Response(upstream.status_code, headers=headers, content=redact(content.decode("utf-8", "replace")).encode(), extensions=extensions)


class RedactingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Live mode's transport: httpx's own, except that an error body is redacted before the client reads it.

    OpenAI's 401 quotes the key's prefix and last 4, a 429 names the org, a debugging proxy may echo the
    Authorization header; the openai client copies that body into the exception a notebook shows and
    LangGraph checkpoints. Answers (2xx, streams included) pass through untouched and unbuffered.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None, async_inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.async_inner = async_inner or httpx.AsyncHTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        upstream = self.inner.handle_request(request)
        if upstream.is_success:
            return upstream
        try:
            content = upstream.read()
        finally:
            upstream.close()
        return _redacted_error(upstream, content)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        upstream = await self.async_inner.handle_async_request(request)
        if upstream.is_success:
            return upstream
        try:
            content = await upstream.aread()
        finally:
            await upstream.aclose()
        return _redacted_error(upstream, content)

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.async_inner.aclose()


def proxy_mounts() -> dict[str, RedactingTransport | None]:
    """httpx's reading of HTTP(S)_PROXY / ALL_PROXY / NO_PROXY, each proxied route redacting too.

    A client handed a transport ignores the proxy variables; these mounts restore them, so live mode
    behind a proxy still works (``None``: no proxy for that pattern, the client's own transport).
    """
    return {
        pattern: None if url is None else RedactingTransport(httpx.HTTPTransport(proxy=url), httpx.AsyncHTTPTransport(proxy=url))
        for pattern, url in get_environment_proxies().items()
    }
