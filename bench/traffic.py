"""Benchmarks 2 and 3: bytes sent over widget comms, and flushes under a 1,000-tokens-per-second stream.

A recorded answer of N tokens is replayed through the dashboard at recorded pace (1 ms apart: 1,000
tokens/s); every widget comm message is measured. The naive baseline sets one HTML.value per token.
Bytes are the median over runs; flushes and waits are the worst any run saw.
Run: python -m bench.traffic [--tokens 3000] [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics

import comm
import ipywidgets as widgets

from bench.comm_bytes import CountingComm
from bench.common import INPUT, long_answer, record_answer, replay_graph, workdir
from lessonkit.panels import Dashboard


def naive_bytes(text_pieces: list[str]) -> int:
    html, value, start = widgets.HTML(), "", sum(CountingComm.sent)
    for piece in text_pieces:
        value += piece
        html.value = value
    return sum(CountingComm.sent) - start


async def dashboard_bytes(folder, speed: float) -> tuple[int, Dashboard]:
    graph = replay_graph(folder, "traffic", speed=speed)
    dash = Dashboard()
    dash._displayed = True
    start = sum(CountingComm.sent)
    await dash.run(graph, INPUT, {"configurable": {"thread_id": "t"}})
    return sum(CountingComm.sent) - start, dash


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    comm.create_comm = lambda *a, **k: CountingComm(*a, **k)
    folder = record_answer(workdir(), "traffic", args.tokens, interval_s=0.001)
    text = long_answer(args.tokens)
    pieces = [text.split(" ")[0]] + [" " + w for w in text.split(" ")[1:]]
    paced_runs, instant_runs, flushers = [], [], []
    for _ in range(args.runs):
        paced, dash = asyncio.run(dashboard_bytes(folder, 1.0))
        instant, _ = asyncio.run(dashboard_bytes(folder, 0.0))
        paced_runs.append(paced)
        instant_runs.append(instant)
        flushers.append(dash.flusher)
    naive = naive_bytes(pieces)
    paced, instant, text_bytes = int(statistics.median(paced_runs)), int(statistics.median(instant_runs)), len(text.encode())
    result = {
        "benchmark": "traffic", "tokens": args.tokens, "runs": args.runs, "text_bytes": text_bytes,
        "lessonkit_bytes_at_1000_tok_s": paced, "ratio_to_text_at_1000_tok_s": round(paced / text_bytes, 2),
        "ratio_range_at_1000_tok_s": [round(min(paced_runs) / text_bytes, 2), round(max(paced_runs) / text_bytes, 2)],
        "lessonkit_bytes_at_speed_0": instant, "ratio_to_text_at_speed_0": round(instant / text_bytes, 2),
        "naive_bytes": naive, "naive_ratio_to_text": round(naive / text_bytes, 1), "target_ratio": "<= 3",
        "flushes": max(len(f.flush_times) for f in flushers),
        "max_flushes_in_any_second": max(f.max_flushes_per_second() for f in flushers),
        "longest_token_wait_ms": round(max(f.longest_wait for f in flushers) * 1000, 1),
        "flush_interval_ms": round(flushers[0].interval * 1000), "flush_targets": "<= 20 per second, <= 150 ms wait",
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
