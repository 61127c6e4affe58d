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

from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.recording import Cassette, Reply, Script
from lessonkit.stream.adapters import watch
from lessonkit.stream.events import ModelEnd, ModelStart, Token
from bench.common import workdir

ANSWER = " ".join(f"word{n}" for n in range(40))


async def one_run(folder) -> tuple[float, float]:
    lesson = lessonkit.start("fidelity", mode="replay", speed=1.0, recordings_dir=folder, announce=False)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="bench")
    events = [e async for e in watch(graph, {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "f"}}, via="astream_events")]
    start = next(e.t for e in events if isinstance(e, ModelStart))
    first = next(e.t for e in events if isinstance(e, Token))
    end = next(e.t for e in events if isinstance(e, ModelEnd))
    return first - start, end - start


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = workdir()
    script = Script(replies=[Reply(content=ANSWER, first_token_s=0.45, chunk_interval_s=0.025)], note="fidelity benchmark")
    lesson = lessonkit.Lesson("fidelity", "record", 0.0, Cassette(folder / "fidelity.json"), script=script)
    lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="bench").invoke(
        {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "r"}})
    chunks = Cassette(folder / "fidelity.json").interactions[0]["response"]["chunks"]
    recorded_ttft = next(c["t"] for c in chunks if c["delta"].get("content"))
    recorded_duration = Cassette(folder / "fidelity.json").interactions[0]["response"]["duration"]
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
