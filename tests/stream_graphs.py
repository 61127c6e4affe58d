"""Small graphs for the stream tests: the lesson agent inside a subgraph, custom progress, an interrupt."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall, SearchReply

ANSWER = "Los Angeles is warmer: about 27°C against 23°C in San Francisco."


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    approved: bool


def script() -> Script:
    return Script(
        replies=[
            Reply(tool_calls=(ScriptedCall("tavily_search", {"query": "la vs sf temperature"}, "call_t1"),), usage={"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920}),
            Reply(content=ANSWER, usage={"prompt_tokens": 1000, "completion_tokens": 17, "total_tokens": 1017}),
        ],
        searches=[SearchReply("la vs sf temperature", {"query": "la vs sf temperature", "results": [{"title": "LA", "url": "https://example.org/la", "content": "LA 27C, SF 23C", "score": 0.9}]}, 0.3)],
        note="stream tests",
    )


def build(lesson: lessonkit.Lesson, saver: Any, with_interrupt: bool = False) -> Any:
    """START → progress → research (the lesson agent, as a subgraph) [→ approve (interrupt)] → END."""
    research = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], system="Answer briefly.")

    def progress(state: State) -> dict[str, Any]:
        write = get_stream_writer()
        for done in (1, 2, 3):
            write({"progress": done, "of": 3})
        return {}

    def approve(state: State) -> dict[str, Any]:
        return {"approved": bool(interrupt({"question": "Send this answer?"}))}

    graph = StateGraph(State)
    graph.add_node("progress", progress)
    graph.add_node("research", research)
    graph.add_edge(START, "progress")
    graph.add_edge("progress", "research")
    if with_interrupt:
        graph.add_node("approve", approve)
        graph.add_edge("research", "approve")
        graph.add_edge("approve", END)
    else:
        graph.add_edge("research", END)
    return graph.compile(checkpointer=saver)


def recorded(tmp_path: Path) -> Path:
    """Record one run of the graph (authored replies) and return the recordings folder."""
    folder = tmp_path / "recordings"
    lesson = lessonkit.Lesson("streams", "record", 0.0, Cassette(folder / "streams.json"), script=script())
    from langchain_core.messages import HumanMessage

    build(lesson, checkpoints.memory_saver()).invoke({"messages": [HumanMessage("Which is warmer, LA or SF?")]}, {"configurable": {"thread_id": "rec"}})
    return folder


TWIN_ARGS = {"query": "sf weather"}


def twins_script() -> Script:
    """The model asks for the same search twice in one turn (ids call_a, call_b): the agent runs both at once."""
    return Script(
        replies=[
            Reply(tool_calls=(ScriptedCall("tavily_search", TWIN_ARGS, "call_a"), ScriptedCall("tavily_search", TWIN_ARGS, "call_b"))),
            Reply(content="Sunny, twice."),
        ],
        searches=[SearchReply("sf weather", {"query": "sf weather", "results": [{"title": "SF", "url": "https://example.org/sf", "content": "SF 18C sunny", "score": 0.9}]}, 0.2)],
        note="parallel twin tool calls",
    )


def recorded_twins(tmp_path: Path) -> Path:
    """Record one turn of the bare lesson agent calling the same tool twice in parallel; the recordings folder."""
    from langchain_core.messages import HumanMessage

    folder = tmp_path / "twins"
    lesson = lessonkit.Lesson("twins", "record", 0.0, Cassette(folder / "twins.json"), script=twins_script())
    agent = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    agent.invoke({"messages": [HumanMessage("Weather in SF? Check twice.")]}, {"configurable": {"thread_id": "rec"}})
    return folder
