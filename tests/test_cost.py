"""Cost from usage: the offline price table, cached input tokens, unknown models, turn totals, and the
usage (cached tokens, model, provider) reaching ModelEnd from a real replayed ChatOpenAI and over the wire."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall, SearchReply
from lessonkit.serve.events import to_wire
from lessonkit.serve.wire_reader import WireEventReader
from lessonkit.stream.adapters import watch
from lessonkit.stream.cost import Price, Unknown, add_turns, cost_line, format_usd, price, table_version, turn_cost
from lessonkit.stream.events import ModelEnd
from lessonkit.stream.timings import compute_timings, format_timings, turn_totals
from tests.stream_graphs import build


def test_gpt_4o_is_priced_from_the_bundled_table() -> None:
    """gpt-4o: $2.50 per million input tokens, $10 per million output (genai-prices 0.2.3)."""
    cost = price("gpt-4o", "openai", 1_000_000, 0, 100_000)
    assert isinstance(cost, Price) and cost.usd == Decimal("3.5") and (cost.model, cost.provider) == ("gpt-4o", "openai")
    assert (cost.input_usd, cost.output_usd) == (Decimal("2.5"), Decimal("1"))
    assert price("gpt-4o-2024-08-06", None, 1_000_000, 0, 0) == Price(Decimal("2.5"), "gpt-4o", "openai", Decimal("2.5"), Decimal(0))


def test_cached_input_tokens_cost_half() -> None:
    """``input_tokens`` counts the cached ones too; those are billed at the cache-read rate ($1.25/M for gpt-4o)."""
    plain, cached = price("gpt-4o", "openai", 1000, 0, 0), price("gpt-4o", "openai", 1000, 1000, 0)
    assert isinstance(plain, Price) and isinstance(cached, Price)
    assert (plain.usd, cached.usd) == (Decimal("0.0025"), Decimal("0.00125"))
    assert price("gpt-4o", "openai", 100, 500, 0) == price("gpt-4o", "openai", 100, 100, 0)  # never more cached than sent


def test_unknown_models_and_missing_usage_say_why() -> None:
    unknown = price("my-fine-tune", "openai", 100, 0, 10)
    assert isinstance(unknown, Unknown) and str(unknown) == "unknown price" and "my-fine-tune" in unknown.reason
    assert isinstance(price("gpt-4o", "no-such-provider", 1, 0, 1), Unknown)
    assert str(price(None, None, 100, 0, 10)) == "unknown price"
    assert str(price("gpt-4o", "openai", None, None, None)) == "no usage"


def test_turn_total_is_partial_with_an_unknown_call() -> None:
    known = price("gpt-4o", "openai", 1000, 0, 100)
    whole, partial = turn_cost([known, known]), turn_cost([known, price("mystery", None, 10, 0, 1)])
    assert (whole.usd, whole.partial, str(whole)) == (Decimal("0.0070"), False, "$0.0070")
    assert (partial.usd, partial.partial, partial.priced, partial.unpriced) == (Decimal("0.0035"), True, 1, 1)
    assert str(partial) == "at least $0.0035 (1 of 2 calls: unknown price)"
    assert str(turn_cost([Unknown("x")])) == "unknown price"
    both = add_turns([whole, partial])
    assert (both.usd, both.partial, both.priced, both.unpriced) == (Decimal("0.0105"), True, 3, 1)
    assert cost_line(turn_cost([])) == ""
    assert cost_line(partial) == (f"cost   at least $0.0035 for 2 model calls, 1 with unknown price: {partial.reasons[0]} "
                                  f"(USD, {table_version()} price table, offline)")


def test_dollars_keep_two_significant_digits() -> None:
    cases = {"0": "$0.00", "0.00245": "$0.0025", "0.000995": "$0.0010", "0.0000004": "$0.00000040", "0.12": "$0.12",
             "0.5": "$0.50", "0.995": "$1.00", "12.345": "$12.35"}
    assert {v: format_usd(Decimal(v)) for v in cases} == cases


def test_pricing_never_touches_the_network() -> None:
    """With sockets refused, genai_prices imports and prices from its bundled table: no update fetch, no updater thread."""
    code = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise RuntimeError("network used")
        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        import threading
        from lessonkit.stream.cost import price
        print(price("gpt-4o", "openai", 1000, 200, 100), price("unknown-model", None, 1, 0, 1), threading.active_count())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["$0.0033", "unknown", "price", "1"]  # 800 x $2.50/M + 200 x $1.25/M + 100 x $10/M; no updater thread


def cached_script() -> Script:
    """Two gpt-4o calls; the second reads 640 of its 1000 input tokens from OpenAI's prompt cache."""
    return Script(
        replies=[
            Reply(tool_calls=(ScriptedCall("tavily_search", {"query": "la vs sf"}, "call_c1"),),
                  usage={"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920}),
            Reply(content="LA is warmer.", usage={"prompt_tokens": 1000, "completion_tokens": 5, "total_tokens": 1005,
                                                  "prompt_tokens_details": {"cached_tokens": 640}}),  # type: ignore[dict-item]
        ],
        searches=[SearchReply("la vs sf", {"query": "la vs sf", "results": [{"title": "LA", "url": "https://example.org", "content": "27C", "score": 0.9}]}, 0.1)],
        note="cost tests",
    )


def replayed_events(tmp_path: Path, via: str) -> list[Any]:
    folder = tmp_path / "recordings"
    recorder = lessonkit.Lesson("streams", "record", 0.0, Cassette(folder / "streams.json"), script=cached_script())
    question = {"messages": [HumanMessage("Which is warmer, LA or SF?")]}
    build(recorder, checkpoints.memory_saver()).invoke(question, {"configurable": {"thread_id": "rec"}})

    async def go() -> list[Any]:
        lesson = lessonkit.start("streams", mode="replay", recordings_dir=folder, announce=False)
        graph = build(lesson, checkpoints.memory_saver())
        return [e async for e in watch(graph, question, {"configurable": {"thread_id": "t"}}, via=via)]

    return asyncio.run(go())


@pytest.mark.parametrize("via", ["astream", "astream_events"])
def test_usage_reaches_model_end_and_the_timings_from_a_real_replay(tmp_path: Path, via: str) -> None:
    events = replayed_events(tmp_path, via)
    ends = [e for e in events if isinstance(e, ModelEnd)]
    assert [(e.input_tokens, e.cached_input_tokens, e.output_tokens, e.model, e.provider) for e in ends] == [
        (900, None, 20, "gpt-4o", "openai"), (1000, 640, 5, "gpt-4o", "openai"),
    ]
    timings = compute_timings(events)
    first, second = [c.cost for c in timings.calls if c.kind == "model"]
    assert isinstance(first, Price) and first.usd == Decimal("0.00245")  # 900 x $2.50/M + 20 x $10/M
    assert isinstance(second, Price) and second.usd == Decimal("0.00175")  # 360 x $2.50/M + 640 x $1.25/M + 5 x $10/M
    assert timings.cost.usd == Decimal("0.0042") and not timings.cost.partial
    lines = format_timings(timings).splitlines()
    assert lines[1].endswith("$0.0025") and "in 1000 (640 cached)  out 5" in lines[3] and lines[3].endswith("$0.0018")
    assert lines[-1].startswith("cost   $0.0042 for 2 model calls (USD, genai-prices ")
    assert turn_totals([timings, timings]).overall.cost.usd == Decimal("0.0084")  # type: ignore[union-attr]


def test_model_end_keeps_usage_and_model_over_the_wire(tmp_path: Path) -> None:
    end = ModelEnd(t=1.0, call_id="c", node="llm", step=1, text="hi", chunks=3, input_tokens=1000, output_tokens=5,
                   cached_input_tokens=640, model="gpt-4o-2024-08-06", provider="openai")
    wire = to_wire(end, ["model"])
    assert wire is not None and (wire["cached_input_tokens"], wire["model"], wire["provider"]) == (640, "gpt-4o-2024-08-06", "openai")
    (back,) = WireEventReader(clock=lambda: 1.0).feed(wire)
    assert isinstance(back, ModelEnd)
    assert (back.input_tokens, back.cached_input_tokens, back.output_tokens, back.model, back.provider) == (1000, 640, 5, "gpt-4o-2024-08-06", "openai")
