"""Benchmark 1: the dashboard's chunks per second against a bare astream(messages) loop.

Both replay the same recorded answer of N chunks at speed 0, alternating, in one process.
Run: python -m bench.throughput [--chunks 10000] [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import json

from lessonkit.panels import Dashboard
from bench.common import INPUT, now, record_answer, replay_graph, workdir


async def bare(folder, chunks: int) -> float:
    graph = replay_graph(folder, "throughput")
    text, start = [], now()
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
    assert next(iter(dash.tokens.calls.values())).answer.value.count(" ") == chunks - 1
    return chunks / elapsed


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = record_answer(workdir(), "throughput", args.chunks)
    pairs = []
    for _ in range(args.runs):  # side by side: one of each per round
        pairs.append((asyncio.run(bare(folder, args.chunks)), asyncio.run(dashboard(folder, args.chunks))))
    bare_rates = sorted(p[0] for p in pairs)
    dash_rates = sorted(p[1] for p in pairs)
    ratios = sorted(d / b for b, d in pairs)
    result = {
        "benchmark": "throughput", "chunks": args.chunks, "runs": args.runs,
        "bare_chunks_per_s_median": round(bare_rates[len(pairs) // 2]), "dashboard_chunks_per_s_median": round(dash_rates[len(pairs) // 2]),
        "ratio_median": round(ratios[len(pairs) // 2], 3), "target": ">= 0.9",
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
