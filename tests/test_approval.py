"""build_agent(approve_tools=True): a review node pauses before tools run; approve or reject to go on."""
from __future__ import annotations

import asyncio
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.types import Command

import lessonkit
from lessonkit import checkpoints
from lessonkit.agent import REJECTED_TOOL_CALL, is_approval, rejection_messages
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall

RAN: list[str] = []


@tool
def lookup(query: str) -> str:
    """Look something up."""
    RAN.append(query)
    return f"found {query}"


CALL = {"name": "lookup", "args": {"query": "sf"}, "id": "call_sf"}


def script() -> Script:
    return Script(
        replies=[
            Reply(tool_calls=(ScriptedCall("lookup", {"query": "sf"}, "call_sf"),)),
            Reply(content="Found sf."),
            Reply(tool_calls=(ScriptedCall("lookup", {"query": "la"}, "call_la"),)),
            Reply(content="I did not look la up."),
        ],
        note="approval test",
    )


def make_lesson(tmp_path: Path) -> lessonkit.Lesson:
    return lessonkit.Lesson("a", "record", 0.0, Cassette(tmp_path / "rec" / "a.json"), script=script())


CONFIG = {"configurable": {"thread_id": "t"}}


def test_default_agent_has_no_review_node(tmp_path: Path) -> None:
    graph = lessonkit.build_agent(make_lesson(tmp_path).chat_model(), [lookup])
    assert "review" not in graph.get_graph().nodes


def test_approve_runs_the_tool_and_reject_answers_the_call_sync(tmp_path: Path) -> None:
    RAN.clear()
    saver = checkpoints.sqlite_saver(tmp_path / "t.db")
    graph = lessonkit.build_agent(make_lesson(tmp_path).chat_model(), [lookup], checkpointer=saver, approve_tools=True)
    assert {"llm", "review", "action"} <= set(graph.get_graph().nodes)

    updates = list(graph.stream({"messages": [HumanMessage("look up sf")]}, CONFIG, stream_mode="updates"))
    assert list(updates[-1]) == ["__interrupt__"]
    (pending,) = updates[-1]["__interrupt__"]
    assert pending.value["tool_calls"] == [CALL]
    state = graph.get_state(CONFIG)
    assert state.next == ("review",) and RAN == []  # paused before the tool

    updates = list(graph.stream(Command(resume="approve"), CONFIG, stream_mode="updates"))
    assert [next(iter(u)) for u in updates] == ["review", "action", "llm"]
    assert RAN == ["sf"] and graph.get_state(CONFIG).next == ()

    graph.invoke({"messages": [HumanMessage("now la")]}, CONFIG)
    assert graph.get_state(CONFIG).next == ("review",)
    result = graph.invoke(Command(resume="not needed, thanks"), CONFIG)
    assert RAN == ["sf"]  # the rejected call never ran
    rejected = [m for m in result["messages"] if isinstance(m, ToolMessage) and m.tool_call_id == "call_la"]
    assert len(rejected) == 1 and rejected[0].status == "error"
    assert rejected[0].content == f"{REJECTED_TOOL_CALL} Reason: not needed, thanks"
    assert isinstance(result["messages"][-1], AIMessage) and result["messages"][-1].content == "I did not look la up."
    assert graph.get_state(CONFIG).next == ()


def test_approve_and_reject_async(tmp_path: Path) -> None:
    RAN.clear()
    lesson = make_lesson(tmp_path)

    async def run() -> tuple[list, list, tuple]:
        saver = await checkpoints.async_sqlite_saver(tmp_path / "a.db")
        graph = lessonkit.build_agent(lesson.chat_model(), [lookup], checkpointer=saver, approve_tools=True)
        first = [u async for u in graph.astream({"messages": [HumanMessage("look up sf")]}, CONFIG, stream_mode="updates")]
        waiting = (await graph.aget_state(CONFIG)).next
        second = [u async for u in graph.astream(Command(resume="approve"), CONFIG, stream_mode="updates")]
        await graph.ainvoke({"messages": [HumanMessage("now la")]}, CONFIG)
        result = await graph.ainvoke(Command(resume="reject"), CONFIG)
        await checkpoints.close_saver(saver)
        return first, second + [result], waiting

    first, rest, waiting = asyncio.run(run())
    assert "__interrupt__" in first[-1] and waiting == ("review",)
    assert [next(iter(u)) for u in rest[:-1]] == ["review", "action", "llm"]
    result = rest[-1]
    assert RAN == ["sf"]
    assert [m.content for m in result["messages"] if isinstance(m, ToolMessage)] == ["found sf", REJECTED_TOOL_CALL]
    assert result["messages"][-1].content == "I did not look la up."


def test_replayed_recording_gives_the_same_thread(tmp_path: Path) -> None:
    def run(lesson: lessonkit.Lesson, db: Path) -> list[str]:
        graph = lessonkit.build_agent(lesson.chat_model(), [lookup], checkpointer=checkpoints.sqlite_saver(db), approve_tools=True)
        graph.invoke({"messages": [HumanMessage("look up sf")]}, CONFIG)
        graph.invoke(Command(resume="approve"), CONFIG)
        graph.invoke({"messages": [HumanMessage("now la")]}, CONFIG)
        return [m.content for m in graph.invoke(Command(resume="reject"), CONFIG)["messages"]]

    recorded = run(make_lesson(tmp_path), tmp_path / "one.db")
    replayed = run(lessonkit.start("a", mode="replay", recordings_dir=tmp_path / "rec", announce=False), tmp_path / "two.db")
    assert replayed == recorded and replayed[-1] == "I did not look la up."


def test_decisions() -> None:
    assert is_approval("approve") and is_approval(" Approve ") and is_approval(True)
    assert not any(is_approval(d) for d in ("reject", "approved?", "", None, False, 1))
    assert [m.content for m in rejection_messages([CALL], "reject")] == [REJECTED_TOOL_CALL]
    assert rejection_messages([CALL], False)[0].content == REJECTED_TOOL_CALL
    assert rejection_messages([CALL], "too slow")[0].content.endswith("Reason: too slow")
