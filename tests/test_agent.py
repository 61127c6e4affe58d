"""The lesson agent: llm ⇄ action on StateGraph, sync with SqliteSaver and async with AsyncSqliteSaver."""
from __future__ import annotations

import asyncio
from pathlib import Path

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

import lessonkit
from lessonkit import checkpoints
from lessonkit.recording import Cassette, Reply, Script, ScriptedCall


@tool
def flaky(query: str) -> str:
    """A tool that always fails."""
    raise RuntimeError(f"service down for {query!r}")


def script() -> Script:
    return Script(
        replies=[
            Reply(tool_calls=(ScriptedCall("flaky", {"query": "sf"}, "call_f"), ScriptedCall("nope", {}, "call_n"))),
            Reply(content="Sorry, the lookup failed."),
            Reply(content="You asked about sf."),
        ],
        note="agent test",
    )


def run_sync(lesson: lessonkit.Lesson, db: Path) -> list:
    saver = checkpoints.sqlite_saver(db)
    graph = lessonkit.build_agent(lesson.chat_model(), [flaky], checkpointer=saver, system="Be brief.")
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [HumanMessage("look up sf")]}, config)
    graph.invoke({"messages": [HumanMessage("what did I ask?")]}, config)
    return graph.get_state(config).values["messages"]


def test_tool_errors_become_tool_messages_and_the_loop_goes_on(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    recorded = run_sync(lessonkit.Lesson("a", "record", 0.0, Cassette(rec / "a.json"), script=script()), tmp_path / "one.db")
    replayed = run_sync(lessonkit.start("a", mode="replay", recordings_dir=rec, announce=False), tmp_path / "two.db")

    errors = [m for m in replayed if isinstance(m, ToolMessage)]
    assert [m.status for m in errors] == ["error", "error"]
    assert errors[0].content == "Error: RuntimeError: service down for 'sf'"
    assert "no tool named 'nope'" in errors[1].content
    assert [m.content for m in replayed] == [m.content for m in recorded]
    assert replayed[-1].content == "You asked about sf." and len(replayed) == 7


def test_async_agent_with_async_sqlite_saver_reads_the_sync_thread(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    db = tmp_path / "shared.db"
    lesson = lessonkit.Lesson("a", "record", 0.0, Cassette(rec / "a.json"), script=script())
    saver = checkpoints.sqlite_saver(db)
    graph = lessonkit.build_agent(lesson.chat_model(), [flaky], checkpointer=saver, system="Be brief.")
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [HumanMessage("look up sf")]}, config)

    async def continue_async() -> tuple[list, list[str]]:
        asaver = await checkpoints.async_sqlite_saver(db)
        agraph = lessonkit.build_agent(lesson.chat_model(), [flaky], checkpointer=asaver, system="Be brief.")
        tokens = []
        async for chunk, meta in agraph.astream({"messages": [HumanMessage("what did I ask?")]}, config, stream_mode="messages"):
            if chunk.content and meta["langgraph_node"] == "llm":
                tokens.append(chunk.content)
        state = await agraph.aget_state(config)
        await checkpoints.close_saver(asaver)
        return state.values["messages"], tokens

    messages, tokens = asyncio.run(continue_async())
    assert len(messages) == 7 and messages[-1].content == "You asked about sf."
    assert "".join(tokens) == "You asked about sf." and len(tokens) > 1  # streamed token by token
