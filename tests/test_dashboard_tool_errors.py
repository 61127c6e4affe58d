"""A failing tool's error is shown once: ``error: ConnectionError: …``, never ``error: Error: ConnectionError: …``.

The lesson agent (like LangGraph's ToolNode) writes ``Error: {Type}: {message}`` into the ToolMessage; the
checkpoint keeps that, and the stream's ToolEnd.error and every panel drop the prefix.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from lessonkit.panels.tools import ToolDecisionsPanel
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall
from lessonkit.stream.adapters import StreamAdapter, tool_error_text
from lessonkit.stream.events import ToolDecision, ToolEnd
from lessonkit.stream.timings import compute_timings, format_timings

FAILURE = "ConnectionError: weather station SFO did not answer"


@tool
def station_reading(station: str) -> str:
    """Live temperature at an airport weather station."""
    raise ConnectionError(f"weather station {station} did not answer")


def test_tool_error_text_drops_langgraphs_prefix_once() -> None:
    assert tool_error_text(f"Error: {FAILURE}") == FAILURE
    assert tool_error_text(FAILURE) == FAILURE  # already plain: unchanged, so it can be applied twice
    assert tool_error_text("Error: Error: twice") == "Error: twice"  # only LangGraph's own prefix goes
    assert tool_error_text("The user rejected this tool call; it did not run.") == "The user rejected this tool call; it did not run."


def test_the_adapter_keeps_the_message_whole_in_result_and_plain_in_error() -> None:
    message = ToolMessage(content=f"Error: {FAILURE}", tool_call_id="call_1", name="station_reading", status="error")
    (end,) = StreamAdapter(clock=lambda: 1.0).feed({"type": "updates", "ns": (), "data": {"action": {"messages": [message]}}})[:1]
    assert isinstance(end, ToolEnd) and end.error == FAILURE and end.result == f"Error: {FAILURE}"


def test_a_served_tool_result_is_stripped_once_where_it_is_read() -> None:
    """The server sends the ToolMessage content; the client's reader strips the prefix as the local adapter does."""
    from lessonkit.serve.client import WireEventReader

    wire = {"type": "tool_result", "name": "sqlite_query", "id": "call_1", "status": "error", "content": "Error: Error: no such table"}
    (end,) = WireEventReader(clock=lambda: 1.0).feed(wire)
    assert isinstance(end, ToolEnd) and end.error == "Error: no such table"  # an exception class named Error keeps its name
    panel = ToolDecisionsPanel()
    for event in (ToolDecision(t=0.1, tool="sqlite_query", args={"sql": "x"}, tool_call_id="call_1", model_call_id="m1", node="llm", step=1), end):
        panel.on_event(event)
    assert panel.text().splitlines()[1] == "   error: Error: no such table"
    assert format_timings(compute_timings([end])).splitlines()[1].endswith("error: Error: no such table")


def test_the_lesson_agents_failing_tool_in_the_dashboard(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    script = Script(replies=[Reply(tool_calls=(ScriptedCall("station_reading", {"station": "SFO"}, "call_s1"),)),
                             Reply(content="The station did not answer.")], note="tool error test")
    recording = lessonkit.Lesson("station", "record", 0.0, Cassette(folder / "station.json"), script=script)
    question, config = {"messages": [HumanMessage("Temperature at SFO?")]}, {"configurable": {"thread_id": "s"}}
    lessonkit.build_agent(recording.chat_model(), [station_reading], checkpointer=checkpoints.memory_saver()).invoke(question, config)

    async def go() -> tuple[Any, Dashboard, Any]:
        lesson = lessonkit.start("station", mode="replay", recordings_dir=folder, announce=False)
        agent = lessonkit.build_agent(lesson.chat_model(), [station_reading], checkpointer=checkpoints.memory_saver())
        dash = Dashboard()
        report = await dash.run(agent, question, config)
        return report, dash, await agent.aget_state(config)

    report, dash, state = asyncio.run(go())
    assert report.decisions.splitlines() == ['1. station_reading {"station": "SFO"} ← llm step 1 · failed', f"   error: {FAILURE}"]
    assert "Error: Error" not in str(report) and f"Error: {FAILURE}" not in dash.tools.cards.children[0].value
    assert f"<td class='lk-error'>{FAILURE}</td>" in dash.timings.table.value
    assert [e.error for e in dash.runs[-1] if isinstance(e, ToolEnd)] == [FAILURE]
    failed = [m for m in state.values["messages"] if m.type == "tool"]
    assert failed[0].content == f"Error: {FAILURE}"  # the checkpoint keeps what the model read
