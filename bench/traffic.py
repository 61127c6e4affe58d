"""Benchmarks 2 and 3: bytes sent over widget comms, and flushes under a 1,000-tokens-per-second stream.

A recorded answer of N tokens is replayed through the dashboard at recorded pace (1 ms apart: 1,000
tokens/s); every widget comm message is measured. The naive baseline sets one HTML.value per token.
Bytes are the median over runs; flushes and waits are the worst any run saw. ``token_view`` is the
part sent over the token panel's widget (cards and streamed text, as batched ops); the rest of the
total is the other panels.
Run: python -m bench.traffic [--tokens 3000] [--runs 5] [--interval 0.08] [--no-quiet-gc] [--text letters|prose]
(``--interval``: the flush interval; ``--no-quiet-gc``: run without ``quiet_gc``, to see what it buys;
``--text prose``: the answer is English prose instead of the letter pattern, which compresses better.)
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics

import comm
import ipywidgets as widgets

from bench.comm_bytes import CountingComm
from bench.common import INPUT, long_answer, prose_answer, record_answer, replay_graph, workdir
import lessonkit.panels.dashboard as dashboard_module
from lessonkit.panels import Dashboard
from lessonkit.panels.batching import DEFAULT_INTERVAL_S


TEXTS = {"letters": long_answer, "prose": prose_answer}


def naive_bytes(text_pieces: list[str]) -> int:
    html, value, start = widgets.HTML(), "", sum(CountingComm.sent)
    for piece in text_pieces:
        value += piece
        html.value = value
    return sum(CountingComm.sent) - start


async def dashboard_bytes(folder, speed: float, interval: float = DEFAULT_INTERVAL_S) -> tuple[int, int, Dashboard]:
    """Bytes the run sends in all, and those over the token panel's widget."""
    graph = replay_graph(folder, "traffic", speed=speed)
    dash = Dashboard(flush_interval=interval)
    dash._displayed = True
    start = len(CountingComm.sent)
    await dash.run(graph, INPUT, {"configurable": {"thread_id": "t"}})
    view = dash.tokens.view.model_id
    sent = list(zip(CountingComm.sent[start:], CountingComm.senders[start:], strict=True))
    return sum(size for size, _ in sent), sum(size for size, comm_id in sent if comm_id == view), dash


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S)
    parser.add_argument("--no-quiet-gc", action="store_true")
    parser.add_argument("--text", choices=sorted(TEXTS), default="letters")
    args = parser.parse_args()
    quiet_gc = dashboard_module.quiet_gc
    if args.no_quiet_gc:
        dashboard_module.quiet_gc = contextlib.nullcontext  # type: ignore[assignment]
    try:
        return measure(args)
    finally:
        dashboard_module.quiet_gc = quiet_gc


def measure(args: argparse.Namespace) -> dict:
    comm.create_comm = lambda *a, **k: CountingComm(*a, **k)
    folder = record_answer(workdir(), "traffic", args.tokens, interval_s=0.001, text=TEXTS[args.text])
    text = TEXTS[args.text](args.tokens)
    pieces = [text.split(" ")[0]] + [" " + w for w in text.split(" ")[1:]]
    paced_runs, answer_runs, instant_runs, flushers = [], [], [], []
    for _ in range(args.runs):
        paced, answer, dash = asyncio.run(dashboard_bytes(folder, 1.0, args.interval))
        instant, _, _ = asyncio.run(dashboard_bytes(folder, 0.0, args.interval))
        paced_runs.append(paced)
        answer_runs.append(answer)
        instant_runs.append(instant)
        flushers.append(dash.flusher)
    naive = naive_bytes(pieces)
    paced, instant, text_bytes = int(statistics.median(paced_runs)), int(statistics.median(instant_runs)), len(text.encode())
    answer = int(statistics.median(answer_runs))
    result = {
        "benchmark": "traffic", "tokens": args.tokens, "text": args.text, "runs": args.runs, "text_bytes": text_bytes,
        "lessonkit_bytes_at_1000_tok_s": paced, "ratio_to_text_at_1000_tok_s": round(paced / text_bytes, 2),
        "ratio_range_at_1000_tok_s": [round(min(paced_runs) / text_bytes, 2), round(max(paced_runs) / text_bytes, 2)],
        "token_view_bytes_at_1000_tok_s": answer, "token_view_ratio_at_1000_tok_s": round(answer / text_bytes, 2),
        "lessonkit_bytes_at_speed_0": instant, "ratio_to_text_at_speed_0": round(instant / text_bytes, 2),
        "naive_bytes": naive, "naive_ratio_to_text": round(naive / text_bytes, 1), "target_ratio": "<= 1.3",
        "flushes": max(len(f.flush_times) for f in flushers),
        "max_flushes_in_any_second": max(f.max_flushes_per_second() for f in flushers),
        "longest_token_wait_ms": round(max(f.longest_wait for f in flushers) * 1000, 1),
        "longest_wait_per_run_ms": [round(f.longest_wait * 1000, 1) for f in flushers], "quiet_gc": not args.no_quiet_gc,
        "flush_interval_ms": round(flushers[0].interval * 1000), "flush_targets": "<= 20 per second, <= 100 ms wait",
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
