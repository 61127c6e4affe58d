"""Lesson 01's long threads: a chat graph with no model, what a thread's checkpoints keep, and which savers
support which thread lifecycle operations.

The lesson declares the two states itself (a plain ``add_messages`` channel, and a ``DeltaChannel``): that is
the API to learn. This module runs them (``chat_graph``, ``chat``), and counts every copy of the messages a
thread's checkpoints hold, through the saver's public ``list()`` (``stored_messages``). The counts are the
same every run; bytes are not quite (savers add a random suffix to every channel version, and a plain
channel's saved writes move by a few bytes from run to run), so the lesson shows counts and takes bytes from
the benchmark (``bench/checkpointer_growth.py --delta``).

Two names used here are private in LangGraph 1.2 and tested in ``tests/test_long_threads.py`` so a move
fails loudly: ``langgraph.checkpoint.serde.types._DeltaSnapshot`` (the blob a ``DeltaChannel`` snapshot is
stored as), and, in the lesson and the benchmark, ``langgraph.graph.message._messages_delta_reducer`` (the
messages reducer LangGraph's own ``DeltaChannel`` docs pair it with).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

ANSWER = "The weather in San Francisco is mild, around 18°C, with a light breeze from the west."
THREAD = "long"


def answer_node(state: dict[str, Any]) -> dict[str, Any]:
    """The model's place in the graph, without a model: one fixed answer per question."""
    return {"messages": [AIMessage(f"Answer {len(state['messages']) // 2 + 1}: {ANSWER}")]}


def scratch_saver() -> SqliteSaver:
    """A SqliteSaver on an in-memory database: the demonstration's threads stay out of the lesson's file."""
    return SqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))


def chat_graph(state_schema: type, saver: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """START → answer, on ``state_schema`` (which decides how ``messages`` is stored), with its own saver."""
    builder = StateGraph(state_schema)
    builder.add_node("answer", answer_node)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=saver if saver is not None else scratch_saver())


def chat(graph: CompiledStateGraph, turns: int, thread_id: str = THREAD, start: int = 1) -> None:
    """``turns`` turns on one thread, numbered from ``start``: a question, and the node's answer."""
    config = {"configurable": {"thread_id": thread_id}}
    for turn in range(start, start + turns):
        graph.invoke({"messages": [HumanMessage(f"Question {turn}: what is the weather in sf?")]}, config)


@dataclass(frozen=True)
class Stored:
    """What one thread's checkpoints keep of its ``messages`` channel, every copy counted."""

    checkpoints: int
    messages: int  # message objects held, in checkpoint values (whole lists or snapshots) and in saved writes
    bytes: int  # their serialized size, as the saver's serializer writes them (a plain channel's varies a little)
    snapshots: int  # checkpoints whose values hold the whole list (every one, for a plain channel)


def _messages_in(value: Any) -> list[BaseMessage]:
    if isinstance(value, _DeltaSnapshot):
        value = value.value
    if isinstance(value, BaseMessage):
        return [value]
    return [m for m in value if isinstance(m, BaseMessage)] if isinstance(value, (list, tuple)) else []


def stored_messages(graph: CompiledStateGraph, thread_id: str = THREAD, channel: str = "messages") -> Stored:
    """Count what the thread's checkpoints hold of ``channel``, through the saver's public ``list()``."""
    saver = graph.checkpointer
    serde = saver.serde
    checkpoints = messages = size = snapshots = 0
    for tup in saver.list({"configurable": {"thread_id": thread_id}}):
        checkpoints += 1
        values = tup.checkpoint["channel_values"]
        if channel in values:
            held = _messages_in(values[channel])
            snapshots += 1
            messages += len(held)
            size += len(serde.dumps_typed(held)[1])
        for _task, written_channel, value in tup.pending_writes or ():
            if written_channel == channel:
                held = _messages_in(value)
                messages += len(held)
                size += len(serde.dumps_typed(held)[1])
    return Stored(checkpoints, messages, size, snapshots)


def compare(graphs: dict[str, CompiledStateGraph], marks: tuple[int, ...], thread_id: str = THREAD) -> str:
    """Grow one thread on each graph to each mark in turn; a table of what the checkpoints hold at each mark.

    The last column divides each graph's count of messages kept by the first graph's. (No bytes here: a plain
    channel's saved writes vary by a few bytes from run to run, and the lesson's outputs must not.)
    """
    lines = [f"{'turns':>5}  {'channel':<7}{'checkpoints':>12}{'messages kept':>15}{'full copies':>13}{'ratio':>8}"]
    done = 0
    for mark in marks:
        first: Stored | None = None
        for name, graph in graphs.items():
            chat(graph, mark - done, thread_id, start=done + 1)
            stored = stored_messages(graph, thread_id)
            first = first or stored
            lines.append(f"{mark:>5}  {name:<7}{stored.checkpoints:>12,}{stored.messages:>15,}"
                         f"{stored.snapshots:>13,}{stored.messages / first.messages:>8.3f}")
        done = mark
    return "\n".join(lines)


def same_conversation(a: CompiledStateGraph, b: CompiledStateGraph, thread_id: str = THREAD) -> bool:
    """Both graphs read back the same messages (type and text) on the thread."""
    def read(graph: CompiledStateGraph) -> list[tuple[str, Any]]:
        return [(m.type, m.content) for m in graph.get_state({"configurable": {"thread_id": thread_id}}).values["messages"]]
    return read(a) == read(b)


# ------------------------------------------------------------------ thread lifecycle

LIFECYCLE = ("delete_thread", "copy_thread", "prune")


def _implements(cls: type, operation: str) -> bool:
    """The class (or a base other than BaseCheckpointSaver) defines the operation, sync or async."""
    return any(getattr(cls, name, None) is not getattr(BaseCheckpointSaver, name) for name in (operation, "a" + operation))


def saver_classes() -> list[type]:
    """The savers of the installed packages: SQLite, in-memory, and Postgres where its package imports."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    classes: list[type] = [SqliteSaver, AsyncSqliteSaver, InMemorySaver]
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError:  # psycopg missing: say nothing about Postgres rather than guess
        return classes
    return classes + [PostgresSaver, AsyncPostgresSaver]


def lifecycle_support(classes: list[type] | None = None) -> dict[str, dict[str, bool]]:
    """For each saver class, which of ``LIFECYCLE`` it implements (the base class only raises NotImplementedError)."""
    return {cls.__name__: {op: _implements(cls, op) for op in LIFECYCLE} for cls in classes or saver_classes()}


def lifecycle_table(classes: list[type] | None = None) -> str:
    """``lifecycle_support`` as a small text table."""
    support = lifecycle_support(classes)
    width = max(len(name) for name in support) + 2
    lines = [f"{'saver':<{width}}" + "".join(f"{op:>15}" for op in LIFECYCLE)]
    for name, ops in support.items():
        lines.append(f"{name:<{width}}" + "".join(f"{'yes' if ops[op] else '-':>15}" for op in LIFECYCLE))
    return "\n".join(lines)


def growth_benchmark(path: str | Path) -> str:
    """The DeltaChannel benchmark's result file as a table: sizes and per-turn times, plain against delta."""
    growth = json.loads(Path(path).read_text(encoding="utf-8"))
    plain, delta = growth["variants"]["plain"], growth["variants"]["delta"]
    ratios = growth["ratios_delta_over_plain"]
    lines = [f"{growth['command']} · {growth['saver']} · measured {growth['measured']}",
             f"{'turns':>6}{'plain file':>14}{'delta file':>14}{'ratio':>8}{'plain turn':>13}{'delta turn':>13}{'ratio':>8}"]
    for mark in plain["size_bytes"]:
        lines.append(f"{mark:>6}{plain['size_bytes'][mark] / 1e6:>11.2f} MB{delta['size_bytes'][mark] / 1e6:>11.2f} MB"
                     f"{ratios['size_bytes'][mark]:>8.3f}{plain['latency_ms_50'][mark]:>10.2f} ms"
                     f"{delta['latency_ms_50'][mark]:>10.2f} ms{ratios['latency_ms_50'][mark]:>8.2f}")
    lines.append(f"mean turn over the whole run: plain {plain['mean_latency_ms']:.2f} ms, delta {delta['mean_latency_ms']:.2f} ms,"
                 f" ratio {ratios['mean_latency_ms']:.2f}")
    return "\n".join(lines)
