"""Small graphs the streaming lessons run, built around the course's lesson agent.

A stream mode is easiest to understand on a graph with more than one node, where one node reports
progress and another is a whole agent. ``research_pipeline`` is that graph:

    START → plan → research → cite → END

- ``plan`` calls no model; it sends progress events with ``get_stream_writer()`` (``stream_mode="custom"``)
  and writes the steps it will take to ``plan``.
- ``research`` is the lesson agent (``lessonkit.build_agent``) added as a node: a compiled subgraph whose
  model tokens reach the parent's ``messages`` stream only with ``subgraphs=True``.
- ``cite`` calls no model; it collects the URLs the searches returned into ``sources`` and reports how
  many it found as a custom event.

Lessons show the stream calls themselves; this module only keeps the graph out of the cells.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Sequence, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from .agent import COURSE_PROMPT, build_agent
from .persistence.runs import guard

PIPELINE_STEPS = ("plan", "research", "cite")  # the pipeline's nodes, in the order they run
PLAN = ("search the web for the question", "answer from the search results", "list the sources used")
_URL = re.compile(r"https?://[^\s'\"<>)\]]+")


class PipelineState(TypedDict, total=False):
    """The conversation (shared with the research agent), plus what the two plain nodes write."""

    messages: Annotated[list[AnyMessage], add_messages]
    plan: list[str]
    sources: list[str]


def _question(messages: Sequence[AnyMessage]) -> str:
    asked = [m for m in messages if isinstance(m, HumanMessage)]
    return str(asked[-1].content) if asked else ""


def plan(state: PipelineState) -> dict[str, Any]:
    """Stands for a planning step: no model call, two progress events on the custom stream."""
    write = get_stream_writer()
    write({"node": "plan", "done": 1, "of": 2, "note": f"read the question: {_question(state['messages'])!r}"})
    steps = list(PLAN)
    write({"node": "plan", "done": 2, "of": 2, "note": f"planned {len(steps)} steps"})
    return {"plan": steps}


def cite(state: PipelineState) -> dict[str, Any]:
    """Collect the URLs in this turn's tool results (after the last question), in order, without repeats."""
    messages = state["messages"]
    last_question = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    urls: list[str] = []
    for message in messages[last_question + 1:]:
        if isinstance(message, ToolMessage):
            urls += [u for u in _URL.findall(str(message.content)) if u not in urls]
    get_stream_writer()({"node": "cite", "done": 1, "of": 1, "note": f"found {len(urls)} sources"})
    return {"sources": urls}


def research_pipeline(
    model: BaseChatModel,
    tools: Sequence[BaseTool] = (),
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    system: str = COURSE_PROMPT,
) -> CompiledStateGraph:
    """START → plan → research (the lesson agent as a subgraph) → cite → END, compiled.

    The subgraph is compiled without a checkpointer of its own: it uses the parent's, under its own
    checkpoint namespace (``research:<task id>``), which is also the namespace its stream events carry.
    """
    graph = StateGraph(PipelineState)
    graph.add_node("plan", plan)
    graph.add_node("research", build_agent(model, tools, system=system))
    graph.add_node("cite", cite)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "research")
    graph.add_edge("research", "cite")
    graph.add_edge("cite", END)
    return guard(graph.compile(checkpointer=checkpointer))  # one run at a time per thread, like the agent


def new_thread(saver: BaseCheckpointSaver, thread_id: str) -> RunnableConfig:
    """The config for ``thread_id``, after forgetting anything that thread already holds.

    Each demonstration in a lesson starts a conversation from scratch. Emptying the thread first means
    re-running a cell sends the same model requests again (so replay still finds them in the recording)
    and prints the same output, instead of continuing the earlier conversation.
    """
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    if saver.get_tuple(config) is not None:
        saver.delete_thread(thread_id)
    return config
