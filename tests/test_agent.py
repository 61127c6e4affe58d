"""The lesson agent: llm ⇄ action on StateGraph, sync with SqliteSaver and async with AsyncSqliteSaver."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall


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


# ---------------------------------------------------------------- sync and async tool runs behave the same

def timed_tools(log: list[tuple[str, str, float]]) -> list:
    """Two tools that log start and end; the first is the slower, so finishing order differs from call order."""
    from langchain_core.tools import StructuredTool
    from langgraph.config import get_config

    def make(name: str, pause: float) -> StructuredTool:
        def answer(query: str) -> str:
            return f"{name} for {query!r} on thread {get_config()['configurable']['thread_id']}"

        def run(query: str) -> str:
            log.append((name, "start", time.monotonic()))
            time.sleep(pause)
            log.append((name, "end", time.monotonic()))
            return answer(query)

        async def arun(query: str) -> str:
            log.append((name, "start", time.monotonic()))
            await asyncio.sleep(pause)
            log.append((name, "end", time.monotonic()))
            return answer(query)

        return StructuredTool.from_function(run, coroutine=arun, name=name, description=f"{name} (slow)")

    return [make("slow", 0.3), make("quick", 0.1)]


def two_tools_script() -> Script:
    calls = (ScriptedCall("slow", {"query": "a"}, "call_s"), ScriptedCall("quick", {"query": "b"}, "call_q"),
             ScriptedCall("gone", {}, "call_g"))
    return Script(replies=[Reply(tool_calls=calls), Reply(content="Both answered.")], note="parallel tools")


def overlapped(log: list[tuple[str, str, float]]) -> bool:
    starts = [t for _, what, t in log if what == "start"]
    ends = [t for _, what, t in log if what == "end"]
    return len(starts) == 2 and max(starts) < min(ends)


def shape(messages: list) -> list[tuple]:
    return [(m.type, m.content, getattr(m, "name", None), getattr(m, "tool_call_id", None), getattr(m, "status", None))
            for m in messages]


def test_sync_and_async_run_a_turns_tool_calls_at_once_and_answer_in_call_order(tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "par"}}
    runs = {}
    for kind in ("sync", "async"):
        log: list[tuple[str, str, float]] = []
        lesson = lessonkit.Lesson("p", "record", 0.0, Cassette(tmp_path / f"{kind}.json"), script=two_tools_script())
        graph = lessonkit.build_agent(lesson.chat_model(), timed_tools(log), checkpointer=checkpoints.memory_saver(), system="")
        inputs = {"messages": [HumanMessage("both please")]}
        result = graph.invoke(inputs, config) if kind == "sync" else asyncio.run(graph.ainvoke(inputs, config))
        runs[kind] = (log, result["messages"])

    for kind, (log, messages) in runs.items():
        assert overlapped(log), f"{kind}: the two tool calls ran one after the other: {log}"
        assert [e[0] for e in log if e[1] == "end"] == ["quick", "slow"], kind  # finished out of call order...
        tools = [m for m in messages if isinstance(m, ToolMessage)]
        assert [m.tool_call_id for m in tools] == ["call_s", "call_q", "call_g"], kind  # ...answered in call order
        assert tools[0].content == "slow for 'a' on thread par"  # the node's config reached the tool's thread
        assert tools[2].status == "error" and "no tool named 'gone'" in tools[2].content
    assert shape(runs["sync"][1]) == shape(runs["async"][1])


def test_a_tools_own_timeout_error_reads_the_same_sync_and_async(tmp_path: Path) -> None:
    """Not mistaken for the agent's deadline (which, with tool_timeout unset, the async path once tried to print)."""
    from langchain_core.tools import StructuredTool

    def run(query: str) -> str:
        raise TimeoutError("upstream took too long")

    async def arun(query: str) -> str:
        raise TimeoutError("upstream took too long")

    slow = StructuredTool.from_function(run, coroutine=arun, name="slow", description="times out")
    script = lambda: Script(replies=[Reply(tool_calls=(ScriptedCall("slow", {"query": "a"}, "c1"),)), Reply(content="ok")])
    out = []
    for kind, timeout in (("sync", None), ("async", None), ("sync", 5.0), ("async", 5.0)):
        lesson = lessonkit.Lesson("t", "record", 0.0, Cassette(tmp_path / f"{kind}{timeout}.json"), script=script())
        graph = lessonkit.build_agent(lesson.chat_model(), [slow], checkpointer=checkpoints.memory_saver(), system="",
                                      tool_timeout=timeout)
        inputs, config = {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "t"}}
        result = graph.invoke(inputs, config) if kind == "sync" else asyncio.run(graph.ainvoke(inputs, config))
        out.append(result["messages"][2].content)
    assert out == ["Error: TimeoutError: upstream took too long"] * 4
