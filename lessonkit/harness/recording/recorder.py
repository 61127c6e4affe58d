"""The one place that decides, for chat and search alike, whether a request is replayed or asked upstream.

The chat transport and the Tavily wrapper are thin sync/async shells around a ``Recorder``: they do the
I/O (sleep, send, await), it does the deciding and the keeping. An upstream is whatever answers a request
that is not replayed: the live API, or a ``Script`` that hands back its authored answer as a value.
"""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import httpx

from .cassette import Cassette, Kind, Origin, response_to_dict


class RecordMode(enum.Enum):
    """How a run treats requests: each maps to a decision (``decide``) and to how the file is replaced.

    REPLAY: every request from the recording (a miss raises with its diff). RECORD: every request goes
    upstream; a whole run (``lessonkit record``) makes the recording exactly its answers, a kernel run
    merges them in (requests it asked replaced, the rest kept). EXTEND (``--missing-only``): known
    requests replayed, new ones asked and added. AUTHOR: as RECORD, but the upstream is a script.
    """

    REPLAY = "replay"
    RECORD = "record"
    EXTEND = "extend"
    AUTHOR = "author"


class Decision(enum.Enum):
    REPLAY = "replay"
    ASK = "ask"


def decide(mode: RecordMode, known: bool) -> Decision:
    """The decision table, pure: only EXTEND looks at whether the request is already recorded."""
    if mode is RecordMode.REPLAY or (mode is RecordMode.EXTEND and known):
        return Decision.REPLAY
    return Decision.ASK


def record_mode(*, recording: bool, script: bool = False, extend: bool = False) -> RecordMode:
    """The mode for a run: replay, or record from the live APIs or a script, everything or only what is new.

    ``--script --missing-only`` is EXTEND with the script as upstream: the upstream, not the mode, says who answers.
    """
    if not recording:
        return RecordMode.REPLAY
    if extend:
        return RecordMode.EXTEND
    return RecordMode.AUTHOR if script else RecordMode.RECORD


@dataclass(frozen=True)
class Answer:
    """What an upstream that is not HTTP (a script, a search API) answers: the response to record, as a value.

    For chat ``response`` is a ChatResponse (its timing the scripted one); for search, the stored
    ``{"duration": ..., "result": ...}``.
    """

    response: Any
    origin: Origin = "live"
    note: str | None = None


class Upstream(Protocol):
    """What answers a request the recording does not (like httpx's transports, one method per flavour).

    Chat methods take the httpx request and return an httpx response to relay (live HTTP) or an Answer
    (a script); search methods take the query and the wrapper's arguments and return an Answer.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response | Answer: ...

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response | Answer: ...

    def search(self, query: str, kwargs: Mapping[str, Any]) -> Answer: ...

    async def asearch(self, query: str, kwargs: Mapping[str, Any]) -> Answer: ...


@dataclass(frozen=True)
class Replayed:
    """A replayed interaction: the stored response, and the pacing to serve it at."""

    response: Mapping[str, Any]
    speed: float


class Recorder:
    """One recording, the mode, the upstream and the replay speed, shared by a lesson's model and search tool.

    Cassette reads and writes take one lock: the agent runs a turn's tool calls at once (threads when sync).
    Replays inside a record run are instant; only REPLAY paces at ``speed``.
    """

    def __init__(self, cassette: Cassette, mode: RecordMode = RecordMode.REPLAY, upstream: Upstream | None = None,
                 speed: float = 0.0) -> None:
        self.cassette = cassette
        self.mode = mode
        self.upstream = upstream
        self.speed = speed
        self._turn = threading.Lock()

    def at_speed(self, speed: float) -> "Recorder":
        """The same recording, upstream and lock, paced differently (``Lesson.at_speed``): one cassette, one writer."""
        twin = Recorder(self.cassette, self.mode, self.upstream, speed)
        twin._turn = self._turn
        return twin

    def step(self, kind: Kind, request: Mapping[str, Any]) -> Replayed | None:
        """The replayed interaction for this request, or None: ask the upstream (then ``keep`` its answer)."""
        with self._turn:
            known = self.mode is RecordMode.EXTEND and self.cassette.has(kind, request)
            if decide(self.mode, known) is Decision.ASK:
                return None
            return Replayed(self.cassette.play(kind, request)["response"], self.speed if self.mode is RecordMode.REPLAY else 0.0)

    def keep(self, kind: Kind, request: Mapping[str, Any], answer: Answer) -> Answer:
        """Add an upstream's answer to the recording (a chat response in its stored form), and hand it back."""
        response = answer.response if isinstance(answer.response, Mapping) else response_to_dict(answer.response)
        with self._turn:
            self.cassette.add(kind, request, response, answer.origin, answer.note)
        return answer
