"""Benchmark 1: the dashboard's chunks per second against a bare astream(messages) loop.

Both replay the same recorded answer of N chunks at speed 0, alternating, in one process. The
dashboard freezes pre-existing objects for the run (``quiet_gc``), which alone makes a loop faster;
so the bare loop is also timed under the same freeze, and the second ratio is lessonkit's own cost.
Run: python -m bench.throughput [--chunks 10000] [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics

from lessonkit.panels import Dashboard
from lessonkit.panels.quiet_gc import quiet_gc
from bench.common import INPUT, now, record_answer, replay_graph, workdir


async def bare(folder, chunks: int, frozen: bool = False) -> float:
    graph = replay_graph(folder, "throughput")
    text, start = [], now()
    with quiet_gc() if frozen else contextlib.nullcontext():
        async for chunk, meta in graph.astream(INPUT, {"configurable": {"thread_id": "b"}}, stream_mode="messages"):
            text.append(chunk.content)
    elapsed = now() - start
    assert "".join(text).count(" ") == chunks - 1
    return chunks / elapsed


async def dashboard(folder, chunks: int) -> float:
    graph = replay_graph(folder, "throughput")
    dash = Dashboard()
    dash._displayed = True  # measuring the work, not IPython's display machinery outside a kernel
    start = now()
    await dash.run(graph, INPUT, {"configurable": {"thread_id": "d"}})
    elapsed = now() - start
    assert next(iter(dash.tokens.calls.values())).answer.count(" ") == chunks - 1
    return chunks / elapsed


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = record_answer(workdir(), "throughput", args.chunks)
    rounds = []
    for _ in range(args.runs):  # side by side: one of each per round
        rounds.append((asyncio.run(bare(folder, args.chunks)), asyncio.run(bare(folder, args.chunks, frozen=True)), asyncio.run(dashboard(folder, args.chunks))))
    result = {
        "benchmark": "throughput", "chunks": args.chunks, "runs": args.runs,
        "bare_chunks_per_s_median": round(statistics.median(r[0] for r in rounds)),
        "bare_frozen_chunks_per_s_median": round(statistics.median(r[1] for r in rounds)),
        "dashboard_chunks_per_s_median": round(statistics.median(r[2] for r in rounds)),
        "ratio_median": round(statistics.median(d / b for b, _, d in rounds), 3),
        "ratio_to_frozen_bare_median": round(statistics.median(d / f for _, f, d in rounds), 3), "target": ">= 0.9",
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
