"""Benchmark 6: replay fidelity at speed 1: time to first token and duration against the recording.

A recorded answer (first token after 0.45 s, then 40 chunks 25 ms apart) is replayed at speed 1
through the real client; the model call is timed from the events (astream_events v2, which times the
call itself). Run: python -m bench.fidelity [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics

from lessonkit.harness.recording import Cassette
from lessonkit.stream.adapters import watch
from lessonkit.stream.events import ModelEnd, ModelStart, Token
from bench.common import INPUT, record_answer, replay_graph, workdir


async def one_run(folder) -> tuple[float, float]:
    graph = replay_graph(folder, "fidelity", speed=1.0)
    events = [e async for e in watch(graph, INPUT, {"configurable": {"thread_id": "f"}}, via="astream_events")]
    start = next(e.t for e in events if isinstance(e, ModelStart))
    first = next(e.t for e in events if isinstance(e, Token))
    end = next(e.t for e in events if isinstance(e, ModelEnd))
    return first - start, end - start


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = record_answer(workdir(), "fidelity", 40, interval_s=0.025, first_token_s=0.45)
    recorded = Cassette(folder / "fidelity.json").interactions[0]["response"]
    recorded_ttft = next(c["t"] for c in recorded["chunks"] if c["delta"].get("content"))
    recorded_duration = recorded["duration"]
    runs = [asyncio.run(one_run(folder)) for _ in range(args.runs)]
    ttft = statistics.median(r[0] for r in runs)
    duration = statistics.median(r[1] for r in runs)
    result = {
        "benchmark": "fidelity", "runs": args.runs, "recorded_ttft_s": recorded_ttft, "replayed_ttft_s_median": round(ttft, 4),
        "ttft_ratio": round(ttft / recorded_ttft, 3), "recorded_duration_s": recorded_duration,
        "replayed_duration_s_median": round(duration, 4), "duration_ratio": round(duration / recorded_duration, 3), "target": "ratios within 0.9–1.1",
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
