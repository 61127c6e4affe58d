"""lessonkit.long_threads (lesson 01's DeltaChannel and lifecycle cells) and the benchmark's --delta mode.

Also the private LangGraph names they rely on, so that a LangGraph release that moves them fails here, by name.
"""
from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.channels import DeltaChannel
from langgraph.graph.message import _messages_delta_reducer, add_messages

from lessonkit import long_threads


def test_the_private_langgraph_names_are_where_lesson_01_imports_them() -> None:
    from langgraph.checkpoint.serde.types import _DeltaSnapshot
    from langgraph.graph.message import _messages_delta_reducer

    assert _DeltaSnapshot([1]).value == [1]
    assert callable(_messages_delta_reducer)


class PlainState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _delta_state(frequency: int = 100) -> type:
    # the functional form: this module's annotations are strings, which could not see `frequency`
    return TypedDict("DeltaState", {"messages": Annotated[list[AnyMessage], DeltaChannel(_messages_delta_reducer, snapshot_frequency=frequency)]})


def test_a_delta_thread_keeps_fewer_messages_and_reads_back_the_same() -> None:
    plain, delta = long_threads.chat_graph(PlainState), long_threads.chat_graph(_delta_state(frequency=10))
    table = long_threads.compare({"plain": plain, "delta": delta}, marks=(5, 30))
    assert long_threads.same_conversation(plain, delta)
    p, d = long_threads.stored_messages(plain), long_threads.stored_messages(delta)
    assert p.checkpoints == d.checkpoints == 90  # per turn: the input, START passing it on, the answer
    assert p.snapshots == 89 and 0 < d.snapshots < 10  # every plain checkpoint but the first (empty) holds the list; delta: every 10 updates
    assert d.messages < p.messages and d.bytes < p.bytes
    # each message's write is kept once, plus the snapshots: at least the 60 messages of the conversation
    assert d.messages >= 60
    assert table.splitlines()[0].split()[:2] == ["turns", "channel"] and len(table.splitlines()) == 5


def test_the_counts_are_the_same_every_run() -> None:
    counts = []
    for _ in range(2):
        graph = long_threads.chat_graph(_delta_state())
        long_threads.chat(graph, 12)
        stored = long_threads.stored_messages(graph)
        counts.append((stored.checkpoints, stored.messages, stored.snapshots))
    assert counts[0] == counts[1]


def test_lifecycle_support_says_what_the_installed_savers_implement() -> None:
    support = long_threads.lifecycle_support()
    assert support["SqliteSaver"] == {"delete_thread": True, "copy_thread": False, "prune": False}
    assert support["AsyncSqliteSaver"]["delete_thread"] and not support["AsyncSqliteSaver"]["prune"]
    if "PostgresSaver" in support:
        assert support["PostgresSaver"]["prune"]
    table = long_threads.lifecycle_table()
    assert table.splitlines()[0].split() == ["saver", *long_threads.LIFECYCLE]


def test_the_benchmark_compares_the_two_channels_in_one_run() -> None:
    from bench import checkpointer_growth

    result = checkpointer_growth.main(["--delta", "--turns", "10"])
    assert result["benchmark"] == "checkpointer_growth_delta" and result["same_messages_read_back"]
    assert set(result["variants"]) == {"plain", "delta"}
    assert set(result["ratios_delta_over_plain"]["size_bytes"]) == {10}
    assert result["variants"]["delta"]["payload_bytes"][10] < result["variants"]["plain"]["payload_bytes"][10]


def test_the_benchmark_table_reads_the_committed_result() -> None:
    from pathlib import Path

    table = long_threads.growth_benchmark(Path(__file__).resolve().parents[1] / "bench" / "results_checkpointer_growth_delta.json")
    head, columns, *rows, mean = table.splitlines()
    assert head.startswith("python -m bench.checkpointer_growth --delta") and "plain file" in columns
    assert [row.split()[0] for row in rows] == ["10", "100", "1000"] and mean.startswith("mean turn over the whole run")
