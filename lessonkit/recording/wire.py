"""The OpenAI chat-completions wire format: one recorded response, served as JSON or as SSE.

A response is stored once, as the chunks a stream delivered (with their time offsets). From that one
form it can be served as a plain JSON completion or as a server-sent-event stream, whichever the
request asks for, because the same node call streams under ``stream_mode="messages"`` and doesn't
under ``invoke``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Mapping

CapturedAs = Literal["stream", "json"]
# Headers worth keeping with an error response: they steer the client's retry behaviour.
RETRY_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")
# Per-response fields copied from the first chunk (or the JSON body) and repeated on every served chunk.
META_FIELDS = ("id", "created", "model", "service_tier", "system_fingerprint")


@dataclass(frozen=True)
class Chunk:
    """One streamed delta as it arrived: ``t`` seconds after the request was sent."""

    t: float
    delta: Mapping[str, Any]
    finish_reason: str | None = None
    logprobs: Any = None


@dataclass(frozen=True)
class ChatResponse:
    """A whole recorded response: chunks, usage, metadata, or an HTTP error body."""

    status: int
    chunks: tuple[Chunk, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    usage: Mapping[str, Any] | None = None
    duration: float = 0.0
    captured_as: CapturedAs = "stream"
    error_body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def finish_reason(self) -> str | None:
        return next((c.finish_reason for c in reversed(self.chunks) if c.finish_reason), None)

    @property
    def logprobs(self) -> Any:
        return next((c.logprobs for c in reversed(self.chunks) if c.logprobs is not None), None)

    def message(self) -> dict[str, Any]:
        """The assistant message the chunks add up to, as a JSON completion carries it."""
        return merge_deltas(c.delta for c in self.chunks)

    def text(self) -> str:
        return self.message().get("content") or ""


def merge_deltas(deltas: Iterator[Mapping[str, Any]] | Any) -> dict[str, Any]:
    """Add stream deltas up the way OpenAI does: text concatenates, tool calls merge by index."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        for key, value in delta.items():
            if key == "content":
                if value is not None:
                    message["content"] = (message["content"] or "") + value
            elif key == "tool_calls":
                for part in value or ():
                    call = calls.setdefault(part.get("index", len(calls)), {"function": {"arguments": ""}})
                    for name in ("id", "type"):
                        if part.get(name):
                            call[name] = part[name]
                    function = part.get("function") or {}
                    if function.get("name"):
                        call["function"]["name"] = function["name"]
                    call["function"]["arguments"] += function.get("arguments") or ""
            elif value is not None or key not in message:
                message[key] = value
    if calls:
        message["tool_calls"] = [
            {"id": c.get("id"), "type": c.get("type", "function"), "function": {"name": c["function"].get("name"), "arguments": c["function"]["arguments"]}}
            for _, c in sorted(calls.items())
        ]
    return message


def response_from_json(status: int, body: str, duration: float, headers: Mapping[str, str]) -> ChatResponse:
    """Capture a non-streamed answer (or an error) as a one-chunk response."""
    kept = {k: headers[k] for k in RETRY_HEADERS if k in headers}
    if status != 200:
        return ChatResponse(status=status, duration=duration, captured_as="json", error_body=body, headers=kept)
    data = json.loads(body)
    choice = data["choices"][0]
    delta = dict(choice["message"])
    if delta.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
    chunk = Chunk(t=duration, delta=delta, finish_reason=choice.get("finish_reason"), logprobs=choice.get("logprobs"))
    return ChatResponse(
        status=200, chunks=(chunk,), meta=_meta(data), usage=data.get("usage"), duration=duration, captured_as="json"
    )


def _meta(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in META_FIELDS if k in event}


class StreamCapture:
    """Reads an SSE byte stream as it arrives and keeps what a recording needs.

    ``feed`` returns the complete events seen so far (raw bytes, for passing on to the client) so a
    live stream reaches the caller undelayed while it is being recorded.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._chunks: list[Chunk] = []
        self._meta: dict[str, Any] = {}
        self._usage: Mapping[str, Any] | None = None
        self.done = False  # [DONE] seen: the answer is complete
        self.recorded = False

    def feed(self, data: bytes, t: float) -> list[tuple[bytes, bool]]:
        """Take raw bytes; return each complete event with whether it is a usage-only event."""
        self._buffer += data.replace(b"\r\n", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n\n", 1)
            if raw.strip():
                events.append((raw + b"\n\n", self._take(raw, t)))
        return events

    def _take(self, raw: bytes, t: float) -> bool:
        payload = "".join(line[5:].strip() for line in raw.decode("utf-8").split("\n") if line.startswith("data:"))
        if not payload:
            return False
        if payload == "[DONE]":
            self.done = True
            return False
        event = json.loads(payload)
        if not self._meta:
            self._meta = _meta(event)
        if event.get("usage"):
            self._usage = event["usage"]
        if not event.get("choices"):
            return bool(event.get("usage"))
        choice = event["choices"][0]
        self._chunks.append(
            Chunk(t=round(t, 4), delta=choice.get("delta") or {}, finish_reason=choice.get("finish_reason"), logprobs=choice.get("logprobs"))
        )
        return False

    def finish(self, duration: float) -> ChatResponse:
        return ChatResponse(
            status=200, chunks=tuple(self._chunks), meta=self._meta, usage=self._usage, duration=round(duration, 4), captured_as="stream"
        )


def json_body(response: ChatResponse) -> bytes:
    """The response as a non-streamed chat completion."""
    if response.status != 200:
        return (response.error_body or "").encode()
    body: dict[str, Any] = {
        "id": response.meta.get("id"),
        "object": "chat.completion",
        "created": response.meta.get("created"),
        "model": response.meta.get("model"),
        "choices": [{"index": 0, "message": response.message(), "logprobs": response.logprobs, "finish_reason": response.finish_reason}],
        "usage": response.usage,
    }
    for key in ("service_tier", "system_fingerprint"):
        if key in response.meta:
            body[key] = response.meta[key]
    return json.dumps(body).encode()


def sse_events(response: ChatResponse, include_usage: bool) -> list[tuple[float, bytes]]:
    """The response as SSE events, each with the time offset at which it was first sent."""
    head = {"id": response.meta.get("id"), "object": "chat.completion.chunk", "created": response.meta.get("created"), "model": response.meta.get("model")}
    head.update({k: response.meta[k] for k in ("service_tier", "system_fingerprint") if k in response.meta})
    events = []
    for chunk in response.chunks:
        choice = {"index": 0, "delta": dict(chunk.delta), "logprobs": chunk.logprobs, "finish_reason": chunk.finish_reason}
        events.append((chunk.t, _sse({**head, "choices": [choice]})))
    if include_usage and response.usage:
        events.append((response.duration, _sse({**head, "choices": [], "usage": dict(response.usage)})))
    events.append((response.duration, b"data: [DONE]\n\n"))
    return events


def _sse(event: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def wants_stream(body: Mapping[str, Any]) -> bool:
    return bool(body.get("stream"))


def wants_usage(body: Mapping[str, Any]) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))
