"""lessonkit.serve.client against a real server: a served turn rebuilds into the StreamEvents a local
``watch()`` gives for the same recording, and one Dashboard reports a served turn as it reports a local one."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.types import Command

import lessonkit
from lessonkit import checkpoints
from lessonkit.lesson import start
from lessonkit.panels import Dashboard
from lessonkit.serve import ServedAgent, background
from lessonkit.serve.client import ServedAgentError, ServedRunError, WireEventReader
from lessonkit.serve.lesson_app import LessonServe, create_lesson_app
from lessonkit.serve.settings import LESSON_NAME, ServeSettings
from lessonkit.stream.adapters import watch
from lessonkit.stream.events import (
    CheckpointSaved, InterruptRaised, ModelEnd, ModelStart, RunEnd, RunStart, StreamEvent, Token, ToolDecision, ToolEnd, ToolStart,
)

from .lesson_recording import ANSWER, QUERY, QUESTION, REJECTED, record

SECONDS = re.compile(r"\b\d+(\.\d+)?\s?(ms|s)\b")
RATE = re.compile(r"\b\d+(\.\d+)? tok/s\b")


@pytest.fixture(scope="module")
def recordings(module_tmp: Path) -> Path:
    return record(module_tmp / "recordings")


@pytest.fixture(scope="module")
def served(module_tmp: Path, recordings: Path):
    app = create_lesson_app(LessonServe(mode="replay", speed=0, database=module_tmp / "serve.db"), ServeSettings(recordings_dir=recordings))
    with background(app) as running:
        yield running


@pytest.fixture(scope="module")
def reviewed(module_tmp: Path, recordings: Path):
    app = create_lesson_app(LessonServe(mode="replay", speed=0, database=module_tmp / "reviewed.db", approve_tools=True),
                            ServeSettings(recordings_dir=recordings))
    with background(app) as running:
        yield running


def local_agent(recordings: Path, approve_tools: bool = False) -> Any:
    """The same agent ``lessonkit serve`` builds, in this process, replaying the same recording."""
    lesson = start(LESSON_NAME, mode="replay", speed=0, recordings_dir=recordings, announce=False)
    return lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver(),
                                 approve_tools=approve_tools)


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


async def collect(graph: Any, inputs: Any, thread: str) -> list[StreamEvent]:
    return [event async for event in watch(graph, inputs, config(thread))]


def kinds(events: list[StreamEvent]) -> list[str]:
    return [e.kind for e in events if not isinstance(e, CheckpointSaved)]  # checkpoints are an extra nobody asked the server for


def masked(text: str) -> str:
    return RATE.sub("RATE", SECONDS.sub("T", text))


def test_a_served_turn_rebuilds_into_the_events_a_local_watch_gives(served: Any, recordings: Path) -> None:
    question = {"messages": [HumanMessage(QUESTION)]}
    local = asyncio.run(collect(local_agent(recordings), question, "same-1"))
    remote = asyncio.run(collect(ServedAgent(served.url), question, "same-1"))

    assert kinds(remote) == kinds(local)
    assert isinstance(remote[0], RunStart) and remote[0].thread_id == "same-1" and remote[0].source == "served"
    assert isinstance(remote[-1], RunEnd) and remote[-1].status == "done"
    for kind in (ModelStart, ModelEnd, ToolDecision, ToolStart, ToolEnd):
        mine = [e for e in local if isinstance(e, kind)]
        theirs = [e for e in remote if isinstance(e, kind)]
        assert len(mine) == len(theirs) > 0, kind.__name__
    decision = next(e for e in remote if isinstance(e, ToolDecision))
    local_decision = next(e for e in local if isinstance(e, ToolDecision))
    assert (decision.tool, dict(decision.args), decision.tool_call_id, decision.node, decision.step) == (
        local_decision.tool, dict(local_decision.args), local_decision.tool_call_id, local_decision.node, local_decision.step)
    assert decision.model_call_id == next(e for e in remote if isinstance(e, ModelStart)).call_id
    ends = [(e.node, e.step, e.chunks, e.input_tokens, e.output_tokens, e.finish_reason, e.text) for e in remote if isinstance(e, ModelEnd)]
    assert ends == [(e.node, e.step, e.chunks, e.input_tokens, e.output_tokens, e.finish_reason, e.text) for e in local if isinstance(e, ModelEnd)]
    text = "".join(e.text for e in remote if isinstance(e, Token) and e.token_kind == "text")
    args = "".join(e.text for e in remote if isinstance(e, Token) and e.token_kind == "tool_args")
    assert text == ANSWER and QUERY in args
    times = [e.t for e in remote]
    assert times == sorted(times)  # one clock, moving forward


def test_one_dashboard_reports_a_served_turn_like_a_local_one(served: Any, recordings: Path) -> None:
    question = {"messages": [HumanMessage(QUESTION)]}

    async def both() -> tuple[Any, Any]:
        local = await Dashboard().run(local_agent(recordings), question, config("dash-1"))
        remote = await Dashboard().run(ServedAgent(served.url), question, config("dash-1"))
        return local, remote

    local, remote = asyncio.run(both())
    assert remote.status == local.status == "done"
    assert remote.thread_id == local.thread_id == "dash-1"
    assert remote.transcript == local.transcript and ANSWER in remote.transcript
    assert remote.decisions == local.decisions and "tavily_search" in remote.decisions
    assert masked(remote.timings) == masked(local.timings)


def test_an_interrupt_and_its_resume_through_the_served_agent(reviewed: Any, recordings: Path) -> None:
    agent = ServedAgent(reviewed.url)

    async def talk() -> tuple[list[StreamEvent], list[StreamEvent], list[dict[str, Any]]]:
        paused = await collect(agent, {"messages": [HumanMessage(QUESTION)]}, "review-1")
        resumed = await collect(agent, Command(resume="reject"), "review-1")
        return paused, resumed, await agent.history("review-1")

    paused, resumed, history = asyncio.run(talk())
    assert isinstance(paused[-1], RunEnd) and paused[-1].status == "interrupted"
    assert next(e for e in paused if isinstance(e, InterruptRaised)).value["tool_calls"][0]["name"] == "tavily_search"
    assert isinstance(resumed[-1], RunEnd) and resumed[-1].status == "done"
    rejection = next(e for e in resumed if isinstance(e, ToolEnd))
    assert rejection.error is not None and "rejected" in rejection.result
    assert "".join(e.text for e in resumed if isinstance(e, Token) and e.token_kind == "text") == REJECTED
    assert [m["type"] for m in history] == ["human", "ai", "tool", "ai"]


def test_the_thread_api_through_the_client(served: Any) -> None:
    agent = ServedAgent(served.url)

    async def talk() -> dict[str, Any]:
        events = [e async for e in agent.stream("api-1", QUESTION)]
        out: dict[str, Any] = {"types": [e["type"] for e in events], "ids": [e["event_id"] for e in events]}
        out["threads"] = await agent.threads()
        out["history"] = [m["type"] for m in await agent.history("api-1")]
        out["next"] = (await agent.state("api-1"))["next"]
        out["cleared"] = await agent.clear("api-1")
        await agent.delete("api-1")
        with pytest.raises(ServedAgentError) as gone:
            await agent.history("api-1")
        out["gone"] = gone.value.status
        with pytest.raises(ServedAgentError) as nothing:
            async for _ in agent.resume("api-2", "approve"):
                pass
        out["nothing"] = nothing.value.status
        out["health"] = await agent.health()
        return out

    out = asyncio.run(talk())
    assert out["types"][0] == "metadata" and out["types"][-1] == "end" and "token" in out["types"]
    assert out["ids"] == list(range(1, len(out["ids"]) + 1))
    assert "api-1" in out["threads"] and out["history"] == ["human", "ai", "tool", "ai"] and out["next"] == []
    assert out["cleared"] == [] and out["gone"] == 404 and out["nothing"] in (404, 409)
    assert out["health"]["status"] in ("healthy", "degraded")


def test_a_failed_served_run_ends_the_events_and_raises() -> None:
    reader = WireEventReader("t")
    events = reader.feed({"type": "metadata", "run_id": "r", "thread_id": "t"})
    events += reader.feed({"type": "error", "run_id": "r", "error": "timeout", "message": "took too long"})
    assert [e.kind for e in events] == ["run_start", "run_end"] and events[-1].status == "error"
    assert isinstance(reader.error, ServedRunError) and reader.error.code == "timeout"


def test_inputs_a_served_agent_cannot_send_are_refused_clearly(served: Any) -> None:
    agent = ServedAgent(served.url)

    async def run(inputs: Any, cfg: Any) -> None:
        async for _ in agent.lessonkit_events(inputs, cfg):
            pass

    with pytest.raises(ValueError, match="thread"):
        asyncio.run(run({"messages": [HumanMessage("hi")]}, {}))
    with pytest.raises(ValueError, match="one new message"):
        asyncio.run(run({"messages": []}, config("x")))


def test_background_servers_stop_and_free_their_port(module_tmp: Path, recordings: Path) -> None:
    app = create_lesson_app(LessonServe(mode="replay", speed=0, database=module_tmp / "bg.db"), ServeSettings(recordings_dir=recordings))
    running = background(app)
    assert running.running and running.url.startswith("http://127.0.0.1:")
    running.stop()
    running.stop()  # twice is harmless
    assert not running.running and not running.thread.is_alive()
