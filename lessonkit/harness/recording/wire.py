"""The OpenAI chat-completions wire format: one recorded response, served as JSON or as SSE.

A response is stored once, as the chunks a stream delivered (with their time offsets). From that one
form it can be served as a plain JSON completion or as a server-sent-event stream, whichever the
request asks for, because the same node call streams under ``stream_mode="messages"`` and doesn't
under ``invoke``. Every choice (``n`` > 1) keeps its own chunks, and the JSON form adds each one up
the way OpenAI does, so a plain ``invoke()`` in record mode gets what it would have got live.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

from ...errors import LessonkitError

CapturedAs = Literal["stream", "json"]
# Headers worth keeping with an error response: they steer the client's retry behaviour.
RETRY_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")
# Per-response fields copied from the first chunk (or the JSON body) and repeated on every served chunk.
META_FIELDS = ("id", "created", "model", "service_tier", "system_fingerprint")
# Delta fields that arrive in pieces and add up by concatenation (reasoning_* from compatible servers).
TEXT_FIELDS = ("content", "refusal", "reasoning_content", "reasoning")
# A choice's optional keys. OpenAI sends both on every choice; other servers may leave some out, and
# the client's to_dict() shows the difference, so a response keeps which ones it had. Recordings made
# before this was kept carry none and are served with both, as they always were.
CHOICE_KEYS = ("logprobs", "finish_reason")


@dataclass(frozen=True)
class Chunk:
    """One streamed delta of choice ``index`` as it arrived: ``t`` seconds after the request was sent."""

    t: float
    delta: Mapping[str, Any]
    finish_reason: str | None = None
    logprobs: Any = None
    index: int = 0


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
    choice_keys: tuple[str, ...] = CHOICE_KEYS

    def indices(self) -> list[int]:
        """The choices this response holds (``n`` > 1 gives several), in order; at least choice 0."""
        return sorted({c.index for c in self.chunks}) or [0]

    def _of(self, index: int) -> list[Chunk]:
        return [c for c in self.chunks if c.index == index]

    def finish_reason(self, index: int = 0) -> str | None:
        return next((c.finish_reason for c in reversed(self._of(index)) if c.finish_reason), None)

    def logprobs(self, index: int = 0) -> Any:
        return merge_logprobs(c.logprobs for c in self._of(index))

    def message(self, index: int = 0) -> dict[str, Any]:
        """The assistant message a choice's chunks add up to, as a JSON completion carries it."""
        return merge_deltas(c.delta for c in self._of(index))

    def text(self) -> str:
        content = self.message().get("content")
        return content if isinstance(content, str) else ""

    def optional_keys(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Of a choice's optional keys, those the original carried (a value that is there is never dropped)."""
        return {k: v for k, v in values.items() if k in self.choice_keys or v is not None}


def merge_deltas(deltas: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Add one choice's stream deltas up the way OpenAI does: text concatenates, tool calls merge by index,
    other lists (annotations) concatenate, anything else keeps its latest non-null value."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        for key, value in delta.items():
            before = message.get(key)
            if key == "tool_calls":
                _merge_calls(calls, value or ())
            elif key in TEXT_FIELDS and isinstance(value, str):
                message[key] = (before if isinstance(before, str) else "") + value
            elif isinstance(value, list) and isinstance(before, list):
                message[key] = before + value
            elif value is not None or key not in message:
                message[key] = value
    if calls:
        message["tool_calls"] = [
            {"id": c.get("id"), "type": c.get("type", "function"), "function": {"name": c["function"].get("name"), "arguments": c["function"]["arguments"]}}
            for _, c in sorted(calls.items())
        ]
    return message


def _merge_calls(calls: dict[int, dict[str, Any]], parts: Iterable[Mapping[str, Any]]) -> None:
    """Fold tool-call deltas into ``calls``: the first piece names the call, the rest add arguments."""
    for part in parts:
        call = calls.setdefault(part.get("index", len(calls)), {"function": {"arguments": ""}})
        for name in ("id", "type"):
            if part.get(name):
                call[name] = part[name]
        function = part.get("function") or {}
        if function.get("name"):
            call["function"]["name"] = function["name"]
        call["function"]["arguments"] += function.get("arguments") or ""


def merge_logprobs(parts: Iterable[Any]) -> dict[str, Any] | None:
    """A choice's per-chunk logprobs as one: each list (``content``, ``refusal``) concatenates in order."""
    merged: dict[str, Any] | None = None
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        merged = {} if merged is None else merged
        for key, value in part.items():
            before = merged.get(key)
            if isinstance(value, list):
                merged[key] = (before if isinstance(before, list) else []) + value
            elif key not in merged:
                merged[key] = value
    return merged


def response_from_json(status: int, body: str, duration: float, headers: Mapping[str, str]) -> ChatResponse:
    """Capture a non-streamed answer (or an error): one chunk per choice."""
    kept = {k: headers[k] for k in RETRY_HEADERS if k in headers}
    if status != 200:
        return ChatResponse(status=status, duration=duration, captured_as="json", error_body=body, headers=kept)
    data = _completion(body)
    chunks = tuple(_whole_choice(choice, position, duration) for position, choice in enumerate(data["choices"]))
    return ChatResponse(
        status=200, chunks=chunks, meta=_meta(data), usage=data.get("usage"), duration=duration, captured_as="json",
        choice_keys=_choice_keys(data["choices"]),
    )


def _completion(body: str) -> dict[str, Any]:
    """The JSON of a 200 answer, if it is a chat completion; otherwise say so instead of failing later."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        raise LessonkitError(
            f"The API answered 200 with something that is not a chat completion, so it cannot be recorded: {body[:200]!r}. "
            "Check the base URL the model is configured with."
        )
    return data


def _whole_choice(choice: Mapping[str, Any], position: int, t: float) -> Chunk:
    """A JSON choice as the single chunk a stream of it would add up to."""
    delta = dict(choice["message"])
    if delta.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
    return Chunk(t=t, delta=delta, finish_reason=choice.get("finish_reason"), logprobs=choice.get("logprobs"), index=_index(choice, position))


def _index(choice: Mapping[str, Any], position: int) -> int:
    index = choice.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else position


def _choice_keys(shapes: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """Which optional keys the original choices carried; all of them when no choice was there to tell."""
    present = [set(shape) for shape in shapes]
    return tuple(k for k in CHOICE_KEYS if any(k in s for s in present)) if present else CHOICE_KEYS


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
        self._shapes: list[frozenset[str]] = []  # the keys of every choice seen, for choice_keys
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
        for position, choice in enumerate(event["choices"]):
            self._shapes.append(frozenset(choice))
            self._chunks.append(Chunk(
                t=round(t, 4), delta=choice.get("delta") or {}, finish_reason=choice.get("finish_reason"),
                logprobs=choice.get("logprobs"), index=_index(choice, position),
            ))
        return False

    def finish(self, duration: float) -> ChatResponse:
        return ChatResponse(
            status=200, chunks=tuple(self._chunks), meta=self._meta, usage=self._usage, duration=round(duration, 4),
            captured_as="stream", choice_keys=_choice_keys(self._shapes),
        )


def json_body(response: ChatResponse) -> bytes:
    """The response as a non-streamed chat completion, one choice per recorded choice."""
    if response.status != 200:
        return (response.error_body or "").encode()
    body: dict[str, Any] = {
        "id": response.meta.get("id"),
        "object": "chat.completion",
        "created": response.meta.get("created"),
        "model": response.meta.get("model"),
        "choices": [
            {"index": index, "message": response.message(index),
             **response.optional_keys({"logprobs": response.logprobs(index), "finish_reason": response.finish_reason(index)})}
            for index in response.indices()
        ],
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
        optional = response.optional_keys({"logprobs": chunk.logprobs, "finish_reason": chunk.finish_reason})
        choice = {"index": chunk.index, "delta": dict(chunk.delta), **optional}
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
