"""Authoring recordings offline: scripted replies, served in order, recorded through the same path.

A script stands where the OpenAI and Tavily APIs would: ``lessonkit record NOTEBOOK --script FILE`` runs
the lesson with a Recorder whose upstream is a ScriptUpstream, so the requests in the recording are
exactly what the lesson's graph sends and only the answers are written by hand.
Every interaction made this way is marked ``"origin": "authored"``.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import httpx

from ...errors import CorruptScriptError, LessonkitError
from .recorder import Answer
from .storage import LIST, NULL, OBJECT, SECONDS, TEXT, Shape, check_usage, read_json
from .transports import chat_body
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

    def warnings(self, *, unused: bool = True) -> list[str]:
        """What looks wrong in the script after a run: empty replies, and (a full run) replies and searches never used."""
        out = [f"{self.source}: chat[{n}] is empty (no content and no tool calls): the model would say nothing"
               for n, reply in enumerate(self.replies) if not (reply.content or "").strip() and not reply.tool_calls]
        if unused and self._next_reply < len(self.replies):
            first, last = self._next_reply, len(self.replies) - 1
            which = f"chat[{first}]" if first == last else f"chat[{first}..{last}]"
            out.append(f"{self.source}: {which}: {last - first + 1} chat repl{'y' if first == last else 'ies'} the lesson "
                       "never asked for (remove them, or the lesson lost a question)")
        if unused:
            out += [f"{self.source}: search[{n}] ({item.query!r}) was never searched"
                    for n, item in enumerate(self.searches) if n not in self._served_searches]
        return out

    def search(self, query: str) -> SearchReply:
        for n, item in enumerate(self.searches):
            if item.query == query and n not in self._served_searches:
                self._served_searches.add(n)
                return item
        for item in reversed(self.searches):
            if item.query == query:
                return item
        raise LessonkitError(f"The script {self.source} has no search result for {query!r}. Add one to its \"search\" list.")


SCRIPT_ADVICE = "Fix it (see README, 'Authoring a recording offline') and record again."
SCRIPT_KEYS = ("note", "chat", "search")
REPLY_KEYS = ("content", "tool_calls", "usage", "model", "note", "first_token_s", "chunk_interval_s")
CALL_KEYS = ("name", "args", "id")
SEARCH_KEYS = ("query", "result", "duration")


def load_script(path: Path | str) -> Script:
    """Read a script file (JSON): {"note": ..., "chat": [...], "search": [...]}.

    Every entry is checked as it is read, so a mistake fails here naming the file and the entry
    (``chat[3].tool_calls[0]: missing "name"``), not halfway through a recording run.
    """
    path = Path(path)
    shape = Shape(path, CorruptScriptError, SCRIPT_ADVICE)
    data = shape.expect(read_json(path, CorruptScriptError, "script", SCRIPT_ADVICE), "", OBJECT)
    shape.known(data, "", SCRIPT_KEYS)
    replies = [_reply(shape, entry, where) for where, entry in shape.each(shape.field(data, "chat", "", LIST, default=[]), "chat", OBJECT)]
    searches = [_search(shape, entry, where) for where, entry in shape.each(shape.field(data, "search", "", LIST, default=[]), "search", OBJECT)]
    script = Script(replies=replies, searches=searches, note=shape.field(data, "note", "", TEXT, default=Script.note), source=str(path))
    _LOADED.append(script)
    return script


_LOADED: list[Script] = []  # scripts this process loaded: a record run's commit cell reports on them


def script_warnings(*, unused: bool) -> list[str]:
    """Warnings about every script this process loaded (``unused``: a full record run, where every reply should be asked for)."""
    return [w for script in _LOADED for w in script.warnings(unused=unused)]


def _reply(shape: Shape, entry: Mapping[str, Any], where: str) -> Reply:
    """One "chat" entry as a Reply, every field checked."""
    shape.known(entry, where, REPLY_KEYS)
    calls = shape.each(shape.field(entry, "tool_calls", where, LIST, default=[]), f"{where}.tool_calls", OBJECT)
    usage = shape.field(entry, "usage", where, OBJECT)
    if usage is not None:
        check_usage(shape, usage, f"{where}.usage")
    return Reply(
        content=shape.field(entry, "content", where, TEXT, NULL),
        tool_calls=tuple(_call(shape, call, spot) for spot, call in calls),
        usage=usage,
        model=shape.field(entry, "model", where, TEXT, NULL),
        note=shape.field(entry, "note", where, TEXT, NULL),
        first_token_s=shape.field(entry, "first_token_s", where, SECONDS, default=FIRST_TOKEN_S),
        chunk_interval_s=shape.field(entry, "chunk_interval_s", where, SECONDS, default=CHUNK_INTERVAL_S),
    )


def _search(shape: Shape, entry: Mapping[str, Any], where: str) -> SearchReply:
    shape.known(entry, where, SEARCH_KEYS)
    return SearchReply(shape.need(entry, "query", where, TEXT), shape.need(entry, "result", where, OBJECT),
                       shape.field(entry, "duration", where, SECONDS, default=0.8))


def _call(shape: Shape, call: Mapping[str, Any], where: str) -> ScriptedCall:
    shape.known(call, where, CALL_KEYS)
    return ScriptedCall(shape.need(call, "name", where, TEXT), shape.field(call, "args", where, OBJECT, default={}),
                        shape.field(call, "id", where, TEXT, NULL))


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


class ScriptUpstream:
    """A Recorder's upstream that answers from a Script: each answer a value, its timing the scripted one."""

    origin = "authored"

    def __init__(self, script: Script) -> None:
        self.script = script
        self._turn = threading.Lock()  # replies go in order, and parallel tool calls search at once

    def handle_request(self, request: httpx.Request) -> Answer:
        body = chat_body(request)
        with self._turn:
            number, reply = self.script.next_reply()
        note = reply.note or self.script.note
        if reply.usage is None:
            note += "; usage estimated"
        return Answer(reply_response(reply, body, number), "authored", note + "; chunking and timing synthesized")

    async def handle_async_request(self, request: httpx.Request) -> Answer:
        return self.handle_request(request)

    def search(self, query: str, kwargs: Mapping[str, Any]) -> Answer:
        with self._turn:
            reply = self.script.search(query)
        return Answer({"duration": round(reply.duration, 4), "result": dict(reply.result)}, "authored", self.script.note)

    async def asearch(self, query: str, kwargs: Mapping[str, Any]) -> Answer:
        return self.search(query, kwargs)
