"""Benchmark 7: recording lookups and saves as a recording grows.

A recording of N chat interactions, each the quickstart lesson's first request (system prompt,
question, the Tavily tool schema) with a question of its own, answered with that lesson's recorded
chunks. Lookup: the median time of ``Cassette.play`` for requests spread over the whole recording,
sent as the client sends them (stream flags on); loading and building the index (at the first
lookup) are timed apart. Save: the median time of ``Cassette.save``, a full rewrite of the file,
which a plain ``Cassette.add`` does after every answer.
Run: python -m bench.lookup [--sizes 10,100,1000,2000] [--lookups 200] [--repeats 3]
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from lessonkit.harness.recording import Cassette
from bench.common import workdir

TEMPLATE = Path(__file__).resolve().parent.parent / "notebooks" / "recordings" / "00_quickstart.json"


def interactions(size: int) -> list[dict[str, Any]]:
    """``size`` distinct chat interactions of real shape and size."""
    template = next(i for i in json.loads(TEMPLATE.read_text())["interactions"] if i["kind"] == "chat")
    made = []
    for n in range(size):
        item = copy.deepcopy(template)
        item["request"]["messages"][-1]["content"] = f"question {n}: {item['request']['messages'][-1]['content']}"
        made.append(item)
    return made


def as_sent(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "stream": True, "stream_options": {"include_usage": True}}


def timed(action: Any) -> tuple[float, Any]:
    """Seconds an action took, and what it returned."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def median_s(runs: list[tuple[float, Any]]) -> float:
    return round(statistics.median(seconds for seconds, _ in runs), 4)


def measure(folder: Path, size: int, lookups: int, repeats: int) -> dict[str, Any]:
    path = folder / f"lookup_{size}.json"
    writer = Cassette(path)
    writer.document["interactions"] = interactions(size)
    saves = [timed(writer.save) for _ in range(repeats)]
    Cassette(path)  # warm-up: the first read of a fresh file also pays for the page cache
    loads = [timed(lambda: Cassette(path)) for _ in range(repeats)]
    cassette = loads[-1][1]
    requests = [as_sent(i["request"]) for i in cassette.interactions]
    first_s, _ = timed(lambda: cassette.play("chat", requests[0]))  # builds the index
    picks = random.Random(size).choices(requests, k=lookups)
    each = [timed(lambda body=body: cassette.play("chat", body))[0] for body in picks]
    return {
        "file_bytes": path.stat().st_size, "load_s_median": median_s(loads), "first_lookup_s": round(first_s, 4),
        "lookup_us_median": round(statistics.median(each) * 1e6, 1), "lookup_us_max": round(max(each) * 1e6, 1),
        "save_s_median": median_s(saves),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000,2000", help="interactions per recording, comma-separated")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="saves and loads timed at each size (median)")
    args = parser.parse_args(argv)
    folder = workdir()
    sizes = [int(s) for s in args.sizes.split(",")]
    out = {"benchmark": "lookup", "lookups": args.lookups, "sizes": {n: measure(folder, n, args.lookups, args.repeats) for n in sizes}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
