"""Benchmark 5: per-turn latency and storage size as one thread grows, for the three savers.

One thread, N turns of a graph that appends a human and an AI message (no model: this measures the
checkpointer alone). Latency is the median of the 5 turns ending at 10, 100 and 1,000 turns.
Run: python -m bench.checkpointer_growth [--turns 1000] [--plot docs/checkpointer_growth.svg]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

from lessonkit import checkpoints
from bench.common import workdir
from bench.plot import line_chart

TEXT = "The weather in San Francisco is mild, around 18°C, with a light breeze from the west. " * 2


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def graph(saver: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("answer", lambda state: {"messages": [AIMessage(TEXT)]})
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=saver)


def size_of(kind: str, saver: Any, path: Path) -> int:
    if kind == "InMemorySaver":
        # the serialized bytes it holds (its dicts are defaultdicts of lambdas, which do not pickle)
        storage = {k: {ns: dict(v) for ns, v in d.items()} for k, d in saver.storage.items()}
        return len(pickle.dumps((storage, dict(saver.writes), dict(saver.blobs))))
    # fold the write-ahead log into the file first, so the size is the data, not the WAL's preallocation
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def samples_at(marks: list[int], latencies: list[float]) -> dict[int, float]:
    return {m: statistics.median(latencies[max(0, m - 5):m]) for m in marks if m <= len(latencies)}


def summary(marks: list[int], latencies: list[float], sizes: dict[int, int]) -> dict[str, Any]:
    """One saver's result: latency at the marks, size at the marks, and the whole curve (for the plot)."""
    return {"latency_ms": {m: round(v * 1000, 2) for m, v in samples_at(marks, latencies).items()}, "size_bytes": sizes,
            "curve_ms": [round(v * 1000, 2) for v in latencies]}


def run_sync(kind: str, turns: int, marks: list[int], folder: Path) -> dict[str, Any]:
    path = folder / f"{kind}.db"
    saver = checkpoints.memory_saver() if kind == "InMemorySaver" else checkpoints.sqlite_saver(path, fresh=True)
    g, config, latencies, sizes = graph(saver), {"configurable": {"thread_id": "long"}}, [], {}
    for turn in range(1, turns + 1):
        start = time.perf_counter()
        g.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)
        latencies.append(time.perf_counter() - start)
        if turn in marks:
            sizes[turn] = size_of(kind, saver, path)
    return summary(marks, latencies, sizes)


async def run_async(turns: int, marks: list[int], folder: Path) -> dict[str, Any]:
    path = folder / "AsyncSqliteSaver.db"
    saver = await checkpoints.async_sqlite_saver(path, fresh=True)
    g, config, latencies, sizes = graph(saver), {"configurable": {"thread_id": "long"}}, [], {}
    for turn in range(1, turns + 1):
        start = time.perf_counter()
        await g.ainvoke({"messages": [HumanMessage(f"question {turn}")]}, config)
        latencies.append(time.perf_counter() - start)
        if turn in marks:
            sizes[turn] = size_of("AsyncSqliteSaver", saver, path)
    await checkpoints.close_saver(saver)
    return summary(marks, latencies, sizes)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args(argv)
    marks = [m for m in (10, 100, 1000) if m <= args.turns] or [args.turns]
    folder = workdir()
    results = {
        "SqliteSaver": run_sync("SqliteSaver", args.turns, marks, folder),
        "AsyncSqliteSaver": asyncio.run(run_async(args.turns, marks, folder)),
        "InMemorySaver": run_sync("InMemorySaver", args.turns, marks, folder),
    }
    if args.plot:
        curves = {name: r.pop("curve_ms") for name, r in results.items()}
        args.plot.write_text(line_chart(curves, title=f"Per-turn latency on one thread ({args.turns} turns)", x_label="turn", y_label="ms per turn"))
    else:
        for r in results.values():
            r.pop("curve_ms")
    out = {"benchmark": "checkpointer_growth", "turns": args.turns, "savers": results}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
