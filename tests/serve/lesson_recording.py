"""An authored recording of lesson 06's agent, made like tests/stream_graphs.py makes its own.

"What is the weather in sf?" on a new thread gets a search (``tavily_search``) then an answer; with
``approve_tools=True`` the search waits for a resume, and a rejection gets its own short answer.
"""
from __future__ import annotations

from pathlib import Path

from langchain_core.messages import HumanMessage
from langgraph.types import Command

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall, SearchReply
from lessonkit.serve.settings import LESSON_NAME

QUESTION = "What is the weather in sf?"
ANSWER = "It is 16°C and foggy in San Francisco right now."
REJECTED = "Understood, I did not search. Ask me again if you want me to look it up."
QUERY = "weather in san francisco"


def _call() -> Reply:
    return Reply(tool_calls=(ScriptedCall("tavily_search", {"query": QUERY}, "call_sf_weather"),))


def script() -> Script:
    return Script(
        replies=[_call(), Reply(content=ANSWER), _call(), Reply(content=REJECTED)],
        searches=[SearchReply(QUERY, {"query": QUERY, "results": [
            {"title": "SF weather", "url": "https://example.org/sf", "content": "San Francisco: 16C, fog", "score": 0.9}]}, 0.2)],
        note="tests/serve: authored for lesson 06's question",
    )


def record(folder: Path) -> Path:
    """Write ``folder/06_serving_the_agent.json`` (approve flow, then reject flow) and return the folder."""
    lesson = lessonkit.Lesson(LESSON_NAME, "record", 0.0, Cassette(folder / f"{LESSON_NAME}.json"), script=script())
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver(), approve_tools=True)
    for thread, decision in (("approve", "approve"), ("reject", "reject")):
        config = {"configurable": {"thread_id": thread}}
        graph.invoke({"messages": [HumanMessage(QUESTION)]}, config)
        graph.invoke(Command(resume=decision), config)
    return folder
