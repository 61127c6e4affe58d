"""Authoring recordings offline: scripted replies, served in order, recorded through the same path.

A script stands where the OpenAI API would: ``lessonkit record NOTEBOOK --script FILE`` runs the
lesson with a RecordingTransport whose upstream is a ScriptedTransport, so the requests in the
recording are exactly what the lesson's graph sends and only the answers are written by hand.
Every interaction made this way is marked ``"origin": "authored"``.
"""
from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import httpx

from ..errors import LessonkitError
from .transports import AUTHORED_EXTENSION, NOTE_EXTENSION, chat_body, serve
from .wire import ChatResponse, Chunk

FIRST_TOKEN_S = 0.45  # synthesized timing: a typical gpt-4o time to first token
CHUNK_INTERVAL_S = 0.025  # and a typical gap between chunks (~40 chunks/s)
AUTHORED_CREATED = 1_760_000_000  # a fixed "created" stamp, so authored recordings are reproducible


@dataclass(frozen=True)
class ScriptedCall:
    name: str
    args: Mapping[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """One hand-written model answer: text, or tool calls, with optional real usage figures."""

    content: str | None = None
    tool_calls: tuple[ScriptedCall, ...] = ()
    usage: Mapping[str, int] | None = None
    model: str | None = None
    note: str | None = None
    first_token_s: float = FIRST_TOKEN_S
    chunk_interval_s: float = CHUNK_INTERVAL_S


@dataclass(frozen=True)
class SearchReply:
    query: str
    result: Mapping[str, Any]
    duration: float = 0.8


@dataclass
class Script:
    """Replies handed out in order, and search results by query."""

    replies: list[Reply] = field(default_factory=list)
    searches: list[SearchReply] = field(default_factory=list)
    note: str = "authored offline with a lessonkit script"
    source: str = "<script>"
    _next_reply: int = 0
    _served_searches: set[int] = field(default_factory=set)

    def next_reply(self) -> tuple[int, Reply]:
        if self._next_reply >= len(self.replies):
            raise LessonkitError(
                f"The script {self.source} has {len(self.replies)} chat replies, and the lesson asked for reply "
                f"{self._next_reply + 1}. Add another entry to its \"chat\" list."
            )
        self._next_reply += 1
        return self._next_reply - 1, self.replies[self._next_reply - 1]

    def search(self, query: str) -> SearchReply:
        for n, item in enumerate(self.searches):
            if item.query == query and n not in self._served_searches:
                self._served_searches.add(n)
                return item
        for item in reversed(self.searches):
            if item.query == query:
                return item
        raise LessonkitError(f"The script {self.source} has no search result for {query!r}. Add one to its \"search\" list.")


def load_script(path: Path | str) -> Script:
    """Read a script file (JSON): {"note": ..., "chat": [...], "search": [...]}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        replies = [
            Reply(
                content=r.get("content"),
                tool_calls=tuple(ScriptedCall(c["name"], c.get("args", {}), c.get("id")) for c in r.get("tool_calls", ())),
                usage=r.get("usage"), model=r.get("model"), note=r.get("note"),
                first_token_s=r.get("first_token_s", FIRST_TOKEN_S), chunk_interval_s=r.get("chunk_interval_s", CHUNK_INTERVAL_S),
            )
            for r in data.get("chat", [])
        ]
        searches = [SearchReply(s["query"], s["result"], s.get("duration", 0.8)) for s in data.get("search", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise LessonkitError(f"Cannot read the script {path}: {err!r}. See README, 'Authoring a recording offline'.") from None
    return Script(replies=replies, searches=searches, note=data.get("note", Script.note), source=str(path))


def split_text(text: str) -> list[str]:
    """Cut text into word-sized pieces, the way a tokenizer's stream roughly arrives."""
    return re.findall(r"\s*\S+|\s+$", text) or [text]


def reply_response(reply: Reply, request: Mapping[str, Any], number: int) -> ChatResponse:
    """Turn a scripted reply into a response with synthesized chunks, timing and (if not given) usage."""
    times = (reply.first_token_s + i * reply.chunk_interval_s for i in itertools.count())
    chunks: list[Chunk] = []
    if reply.tool_calls:
        chunks.append(Chunk(next(times), {"role": "assistant", "content": None, "refusal": None}))
        for index, call in enumerate(reply.tool_calls):
            call_id = call.id or f"call_authored_{number}_{index}"
            head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            chunks.append(Chunk(next(times), {"tool_calls": [head]}))
            for piece in re.findall(r".{1,6}", json.dumps(dict(call.args)), flags=re.S):
                chunks.append(Chunk(next(times), {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        finish = "tool_calls"
    else:
        chunks.append(Chunk(next(times), {"role": "assistant", "content": "", "refusal": None}))
        chunks += [Chunk(next(times), {"content": piece}) for piece in split_text(reply.content or "")]
        finish = "stop"
    end = next(times)
    chunks.append(Chunk(round(end, 4), {}, finish_reason=finish))
    chunks = [Chunk(round(c.t, 4), c.delta, c.finish_reason) for c in chunks]
    usage = dict(reply.usage) if reply.usage else estimate_usage(request, len(chunks) - 2)
    meta = {"id": f"chatcmpl-authored-{number}", "created": AUTHORED_CREATED + number, "model": reply.model or request.get("model"),
            "system_fingerprint": None}
    return ChatResponse(status=200, chunks=tuple(chunks), meta=meta, usage=usage, duration=round(end, 4), captured_as="stream")


def estimate_usage(request: Mapping[str, Any], output_pieces: int) -> dict[str, int]:
    """A rough token count (four characters a token) for authored replies that give none."""
    prompt = math.ceil(len(json.dumps(request.get("messages", []))) / 4) + math.ceil(len(json.dumps(request.get("tools", []))) / 4)
    return {"prompt_tokens": prompt, "completion_tokens": output_pieces, "total_tokens": prompt + output_pieces}


class ScriptedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An upstream that answers from a Script instead of the network."""

    origin = "authored"

    def __init__(self, script: Script) -> None:
        self.script = script

    def _respond(self, request: httpx.Request, flavour: Any) -> httpx.Response:
        body = chat_body(request)
        number, reply = self.script.next_reply()
        authored = reply_response(reply, body, number)
        response = serve(authored, body, 0.0, flavour)
        response.extensions[AUTHORED_EXTENSION] = authored
        note = reply.note or self.script.note
        if reply.usage is None:
            note += "; usage estimated"
        response.extensions[NOTE_EXTENSION] = note + "; chunking and timing synthesized"
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._respond(request, "sync")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._respond(request, "async")
