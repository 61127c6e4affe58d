"""Adapters against recorded runs: astream (all modes, subgraphs) and astream_events v2 agree."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.stream.adapters import StreamAdapter, watch, watch_sync
from lessonkit.stream.events import (
    CheckpointSaved, Custom, InterruptRaised, ModelEnd, ModelStart, NodeEnd, NodeStart, RunEnd, RunStart, Token, ToolDecision,
    ToolEnd, ToolStart,
)
from tests.stream_graphs import ANSWER, build, recorded

QUESTION = {"messages": [HumanMessage("Which is warmer, LA or SF?")]}


def run_async(tmp_path: Path, via: str, with_interrupt: bool = False) -> list[Any]:
    folder = recorded(tmp_path)

    async def go() -> list[Any]:
        lesson = lessonkit.start("streams", mode="replay", recordings_dir=folder, announce=False)
        graph = build(lesson, checkpoints.memory_saver(), with_interrupt)
        return [e async for e in watch(graph, QUESTION, {"configurable": {"thread_id": "t"}}, via=via)]

    return asyncio.run(go())


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


@pytest.mark.parametrize("via", ["astream", "astream_events"])
def test_both_sources_give_the_same_story(tmp_path: Path, via: str) -> None:
    events = run_async(tmp_path, via)
    assert isinstance(events[0], RunStart) and events[0].source == via and events[0].thread_id == "t"
    assert isinstance(events[-1], RunEnd) and events[-1].status == "done"
    assert [e.t for e in events] == sorted(e.t for e in events)

    starts, ends = of(events, ModelStart), of(events, ModelEnd)
    assert len(starts) == len(ends) == 2 and [s.call_id for s in starts] == [e.call_id for e in ends]
    assert all(e.node == "llm" for e in ends) and [e.step for e in ends] == [1, 3]
    assert [(e.input_tokens, e.output_tokens, e.finish_reason) for e in ends] == [(900, 20, "tool_calls"), (1000, 17, "stop")]
    text_tokens = [t for t in of(events, Token) if t.token_kind == "text"]
    assert "".join(t.text for t in text_tokens) == ANSWER == ends[1].text
    assert all(t.text for t in of(events, Token))  # empty chunks never become tokens
    assert ends[1].chunks > len(text_tokens)  # ...but they are counted: a chunk is not a token
    args = "".join(t.text for t in of(events, Token) if t.token_kind == "tool_args")
    assert args == '{"query": "la vs sf temperature"}'
    assert {t.tool_name for t in of(events, Token) if t.token_kind == "tool_args"} == {"tavily_search"}

    (decision,) = of(events, ToolDecision)
    assert (decision.tool, dict(decision.args), decision.tool_call_id, decision.model_call_id) == (
        "tavily_search", {"query": "la vs sf temperature"}, "call_t1", starts[0].call_id)
    (tool_start,), (tool_end,) = of(events, ToolStart), of(events, ToolEnd)
    assert tool_start.tool_call_id == tool_end.tool_call_id == "call_t1" and tool_end.error is None
    assert "LA 27C" in tool_end.result
    assert events.index(decision) < events.index(tool_start) < events.index(tool_end) < events.index(ends[1])

    nodes = [(e.node, type(e).__name__) for e in events if isinstance(e, (NodeStart, NodeEnd))]
    for node in ("progress", "research", "llm", "action"):
        assert (node, "NodeStart") in nodes and (node, "NodeEnd") in nodes, node


def test_astream_sees_subgraph_namespaces_custom_events_and_checkpoints(tmp_path: Path) -> None:
    events = run_async(tmp_path, "astream")
    inner = [e for e in of(events, NodeStart) if e.node == "llm"]
    assert inner and all(len(e.namespace) == 1 and e.namespace[0].startswith("research:") for e in inner)
    assert [e.data for e in of(events, Custom)] == [{"progress": n, "of": 3} for n in (1, 2, 3)]
    top = [c for c in of(events, CheckpointSaved) if not c.namespace]
    assert [c.source for c in top][:2] == ["input", "loop"] and top[-1].next == () and top[-1].message_count == 4
    assert of(events, ModelStart)[0].t == next(e.t for e in inner)  # from astream, a call starts with its node


def test_events_v2_times_the_model_call_itself(tmp_path: Path) -> None:
    events = run_async(tmp_path, "astream_events")
    (first, _), node = of(events, ModelStart), next(e for e in of(events, NodeStart) if e.node == "llm")
    assert first.t >= node.t and first.model == "gpt-4o"


@pytest.mark.parametrize("via", ["astream", "astream_events"])
def test_interrupt_ends_the_run_as_interrupted(tmp_path: Path, via: str) -> None:
    events = run_async(tmp_path, via, with_interrupt=True)
    (raised,) = of(events, InterruptRaised)
    assert raised.value == {"question": "Send this answer?"}
    assert events[-1].status == "interrupted"


def test_sync_stream_and_replayed_items(tmp_path: Path) -> None:
    folder = recorded(tmp_path)
    lesson = lessonkit.start("streams", mode="replay", recordings_dir=folder, announce=False)
    graph = build(lesson, checkpoints.memory_saver())
    events = list(watch_sync(graph, QUESTION, {"configurable": {"thread_id": "s"}}))
    assert "".join(t.text for t in of(events, Token) if t.token_kind == "text") == ANSWER
    # The adapter also takes items one by one, e.g. a list captured earlier, with a fake clock.
    ticks = iter(range(1000))
    adapter = StreamAdapter(clock=lambda: float(next(ticks)))
    items = list(graph.stream(QUESTION, {"configurable": {"thread_id": "s2"}}, stream_mode=["messages", "tasks", "custom"], subgraphs=True))
    replayed = [e for item in items for e in adapter.feed(*item)]
    assert [e.t for e in replayed] == sorted(e.t for e in replayed)
    assert of(replayed, ToolDecision)[0].tool_call_id == "call_t1"
    assert of(replayed, ModelEnd)[-1].text == ANSWER


def test_failing_run_ends_with_the_error(tmp_path: Path) -> None:
    async def go() -> list[Any]:
        lesson = lessonkit.start("streams", mode="replay", recordings_dir=tmp_path / "empty", announce=False)
        graph = build(lesson, checkpoints.memory_saver())
        seen = []
        with pytest.raises(lessonkit.RecordingMissError):
            async for event in watch(graph, QUESTION, {"configurable": {"thread_id": "x"}}):
                seen.append(event)
        return seen

    events = asyncio.run(go())
    assert events[-1].status == "error" and "RecordingMissError" in events[-1].error
