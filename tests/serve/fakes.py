"""A chat model for run-control tests whose tokens wait for the test: no clocks, no recordings.

``GatedModel`` answers any conversation with ``"You said: <last human message>"``, one word per
token. A message that starts with ``gated`` waits, before each token, for the test to open the gate
(``Gate.open(n)``), so a test can hold a run mid-stream for as long as it needs, then disconnect,
cancel, rejoin or start a second run, and only then let it go on. The server runs in this process
(tests/serve/conftest.py), so the gate is shared with the test directly.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

GATE_LIMIT_S = 30.0  # a gate nobody opens fails the run after this long instead of hanging the suite


class Gate:
    """A counter of tokens allowed through, shared between the test thread and the server's loop."""

    def __init__(self) -> None:
        self._allowed = 0
        self._waiting = 0
        self._lock = threading.Lock()

    def open(self, tokens: int = 1_000_000) -> None:
        with self._lock:
            self._allowed += tokens

    def reset(self) -> None:
        with self._lock:
            self._allowed = 0

    @property
    def waiting(self) -> int:
        """How many tokens are waiting at the gate right now (a test waits for 1 to know a run is mid-stream)."""
        with self._lock:
            return self._waiting

    def _take(self) -> bool:
        with self._lock:
            if self._allowed > 0:
                self._allowed -= 1
                return True
            return False

    async def through(self) -> None:
        with self._lock:
            self._waiting += 1
        try:
            for _ in range(int(GATE_LIMIT_S / 0.005)):
                if self._take():
                    return
                await asyncio.sleep(0.005)
            raise TimeoutError("the test never opened the gate")
        finally:
            with self._lock:
                self._waiting -= 1


def reply_words(messages: list[BaseMessage]) -> list[str]:
    last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    text = f"You said: {last.content if last else ''}"
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class GatedModel(BaseChatModel):
    gate: Any = None

    @property
    def _llm_type(self) -> str:
        return "gated-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "GatedModel":
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="".join(reply_words(messages))))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for word in reply_words(messages):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))

    async def _astream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        gated = any(isinstance(m, HumanMessage) and str(m.content).startswith("gated") for m in messages[-1:])
        for word in reply_words(messages):
            if gated and self.gate is not None:
                await self.gate.through()
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word))
            if run_manager is not None:
                await run_manager.on_llm_new_token(word, chunk=chunk)
            yield chunk
