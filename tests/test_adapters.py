"""Adapters against recorded runs: astream (all modes, subgraphs) and astream_events v2 agree."""
from __future__ import annotations

import asyncio
import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.stream.adapters import EventsV2Adapter, StreamAdapter, watch, watch_sync
from lessonkit.stream.checkpoint_ns import graph_namespace, task_id_of
from lessonkit.stream.events import (
    CheckpointSaved, Custom, InterruptRaised, ModelEnd, ModelStart, NodeEnd, NodeStart, RunEnd, RunStart, StreamEvent, Token,
    ToolDecision, ToolEnd, ToolStart,
)
from tests.stream_graphs import ANSWER, TWIN_ARGS, build, recorded, recorded_twins

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
    parts = list(graph.stream(QUESTION, {"configurable": {"thread_id": "s2"}}, stream_mode=["messages", "tasks", "custom"],
                              subgraphs=True, version="v2"))
    replayed = [e for part in parts for e in adapter.feed(part)]
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


# -- typed v2 parts in, and the LangGraph shapes the adapters rely on (canaries) ---------------------------


def test_the_adapter_reads_typed_v2_parts_not_tuples() -> None:
    adapter = StreamAdapter(clock=lambda: 1.0)
    (custom,) = adapter.feed({"type": "custom", "ns": ("research:1",), "data": {"progress": 1}})
    assert (custom.data, custom.namespace) == ({"progress": 1}, ("research:1",))
    assert adapter.feed({"type": "values", "ns": (), "data": {}, "interrupts": ()}) == []  # a mode lessonkit does not read
    with pytest.raises(TypeError):
        adapter.feed(((), "custom", {"progress": 1}))  # type: ignore[arg-type]  # the v1 tuple form is not parsed


CHECKPOINT_NS_MOVED = (
    "LangGraph changed what lessonkit.stream reads from it: the v2 stream parts ({type, ns, data}) or the "
    "checkpoint_ns format ('parent:<task id>|node:<task id>') that lessonkit/stream/checkpoint_ns.py parses for a "
    "message's task (model-call start times from astream) and for astream_events namespaces. Fix checkpoint_ns.py."
)


def test_canary_langgraph_v2_parts_and_checkpoint_ns(tmp_path: Path) -> None:
    """Fails loudly if LangGraph moves what the adapters read: StreamPart, its keys, and the checkpoint_ns format."""
    from langgraph.types import MessagesStreamPart, StreamPart, TasksStreamPart

    assert {"type", "ns", "data"} <= set(typing.get_type_hints(MessagesStreamPart)) and TasksStreamPart and StreamPart
    lesson = lessonkit.start("streams", mode="replay", recordings_dir=recorded(tmp_path), announce=False)
    graph = build(lesson, checkpoints.memory_saver())
    parts = list(graph.stream(QUESTION, {"configurable": {"thread_id": "c"}}, stream_mode=["messages", "tasks"], subgraphs=True, version="v2"))
    assert parts and all(isinstance(p, dict) and {"type", "ns", "data"} <= set(p) for p in parts), CHECKPOINT_NS_MOVED
    tasks = {(tuple(p["ns"]), p["data"]["id"]) for p in parts if p["type"] == "tasks" and "input" in p["data"]}
    messages = [p for p in parts if p["type"] == "messages"]
    assert messages and all((tuple(p["ns"]), task_id_of(p["data"][1])) in tasks for p in messages), CHECKPOINT_NS_MOVED
    meta = messages[0]["data"][1]
    assert graph_namespace(meta["langgraph_checkpoint_ns"]) == tuple(messages[0]["ns"]), CHECKPOINT_NS_MOVED


def test_events_are_kw_only_slotted_and_frozen() -> None:
    classes = typing.get_args(StreamEvent)
    assert len(classes) == 13
    for cls in classes:
        params = getattr(cls, "__dataclass_params__")
        assert params.frozen and cls.__dataclass_fields__ and hasattr(cls, "__slots__"), cls
        assert all(f.kw_only for f in dataclasses.fields(cls)), cls
    with pytest.raises(TypeError):
        Token(1.0, "m", "hi")  # type: ignore[misc]  # positional: refused
    token = Token(t=1.0, call_id="m", text="hi")
    assert not hasattr(token, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.text = "ho"  # type: ignore[misc]


# -- tool starts and ends paired once, by id, in the adapter ---------------------------------------------


def twin_decisions(adapter: Any, t: float) -> list[Any]:
    answer = AIMessage("", id="m1", tool_calls=[{"name": "search", "args": TWIN_ARGS, "id": "call_a"},
                                                {"name": "search", "args": TWIN_ARGS, "id": "call_b"}])
    return adapter.whole_message(answer, "llm", 1, (), t)


def test_astream_parts_pair_twin_calls_that_end_out_of_order() -> None:
    ticks = iter([1.0, 2.0, 3.0, 4.0])
    adapter = StreamAdapter(clock=lambda: next(ticks))
    twin_decisions(adapter, 0.5)
    starts = adapter.feed({"type": "tasks", "ns": (), "data": {"id": "t2", "name": "action", "input": {}, "triggers": []}})[1:]
    assert [(s.tool_call_id, s.t) for s in starts] == [("call_a", 1.0), ("call_b", 1.0)]
    b = ToolMessage("B", tool_call_id="call_b", name="search")
    a = ToolMessage("Error: boom", tool_call_id="call_a", name="search", status="error")
    ends = adapter.feed({"type": "messages", "ns": (), "data": (b, {"langgraph_node": "action"})})
    ends += adapter.feed({"type": "tasks", "ns": (), "data": {"id": "t2", "name": "action", "error": None, "interrupts": [],
                                                             "result": {"messages": [a, b]}}})
    ends = [e for e in ends if isinstance(e, ToolEnd)]  # b is reported twice (messages and tasks): it ends once
    assert [(e.tool_call_id, e.started, e.result, e.error) for e in ends] == [
        ("call_b", 1.0, "B", None), ("call_a", 1.0, "Error: boom", "boom")]


def test_events_v2_pairs_twin_calls_by_their_runs() -> None:
    ticks = iter(range(1, 100))
    adapter = EventsV2Adapter(clock=lambda: float(next(ticks)))
    twin_decisions(adapter, 0.5)
    meta = {"langgraph_node": "action", "langgraph_step": 2, "langgraph_checkpoint_ns": "action:t2"}

    def tool(kind: str, run: str, **data: Any) -> list[Any]:
        return adapter.feed({"event": kind, "name": "search", "run_id": run, "metadata": meta, "data": data})

    (first,), (second,) = tool("on_tool_start", "r1", input=TWIN_ARGS), tool("on_tool_start", "r2", input=TWIN_ARGS)
    assert (first.tool_call_id, second.tool_call_id) == ("call_a", "call_b")  # one decision each, not call_a twice
    (end_b,) = tool("on_tool_end", "r2", output="B")
    (end_a,) = tool("on_tool_error", "r1", error=ConnectionError("down"))
    assert (end_b.tool_call_id, end_b.started, end_b.result) == ("call_b", second.t, "B")
    assert (end_a.tool_call_id, end_a.started, end_a.error) == ("call_a", first.t, "down")
    (lone,) = tool("on_tool_start", "r3", input={"url": "x"})  # a tool nobody decided on: its run is its id
    (lone_end,) = tool("on_tool_end", "r3", output="ok")
    assert lone.tool_call_id == lone_end.tool_call_id == "r3" and lone_end.started == lone.t


@pytest.mark.parametrize("via", ["astream", "astream_events"])
def test_parallel_twin_calls_of_one_tool_stay_apart(tmp_path: Path, via: str) -> None:
    """The agent runs a turn's tools at once: the same tool, same arguments, twice. Each end carries its own start."""
    folder = recorded_twins(tmp_path)

    async def go() -> list[Any]:
        lesson = lessonkit.start("twins", mode="replay", recordings_dir=folder, announce=False)
        agent = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
        return [e async for e in watch(agent, {"messages": [HumanMessage("Weather in SF? Check twice.")]},
                                       {"configurable": {"thread_id": "t"}}, via=via)]

    events = asyncio.run(go())
    starts = {s.tool_call_id: s for s in of(events, ToolStart)}
    ends = of(events, ToolEnd)
    assert sorted(starts) == sorted(e.tool_call_id for e in ends) == ["call_a", "call_b"]
    assert all(e.started == starts[e.tool_call_id].t and "SF 18C" in e.result for e in ends)
    assert [d.tool_call_id for d in of(events, ToolDecision)] == ["call_a", "call_b"]


def test_the_wire_reader_pairs_a_served_tool_by_id() -> None:
    from lessonkit.serve.wire_reader import WireEventReader

    ticks = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    reader = WireEventReader("t", clock=lambda: next(ticks))
    reader.feed({"type": "tool_start", "id": "call_a", "name": "search", "args": TWIN_ARGS})
    reader.feed({"type": "tool_start", "id": "call_b", "name": "search", "args": TWIN_ARGS})
    (end_b,) = reader.feed({"type": "tool_result", "id": "call_b", "name": "search", "content": "B", "status": "success"})
    (end_a,) = reader.feed({"type": "tool_result", "id": "call_a", "name": "search", "content": "Error: x", "status": "error"})
    assert [(e.tool_call_id, e.started, e.error) for e in (end_b, end_a)] == [("call_b", 2.0, None), ("call_a", 1.0, "x")]
