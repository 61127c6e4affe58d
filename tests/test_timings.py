"""Timings from hand-built event sequences with exact times: numbers, pairing, unfinished runs, text."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pytest import approx

from lessonkit.stream.events import ModelEnd, ModelStart, RunEnd, RunStart, StreamEvent, Token, ToolDecision, ToolEnd, ToolStart
from lessonkit.stream.timings import compute_timings, format_timings, turn_totals

SEARCH = {"query": "weather SF"}


def model_call(call_id: str, start: float, tokens: list[tuple[float, str, str]], end: float, step: int,
               inp: int | None, out: int | None, calls: tuple[dict[str, Any], ...] = ()) -> list[StreamEvent]:
    text = "".join(t for _, t, kind in tokens if kind == "text")
    return [
        ModelStart(t=start, call_id=call_id, node="llm", step=step, model="gpt-4o"),
        *(Token(t=at, call_id=call_id, text=piece, token_kind=kind) for at, piece, kind in tokens),  # type: ignore[arg-type]
        ModelEnd(t=end, call_id=call_id, node="llm", step=step, text=text, chunks=len(tokens) + 2, input_tokens=inp, output_tokens=out, finish_reason="stop", tool_calls=calls),
    ]


def run_a(shift: float = 0.0) -> list[StreamEvent]:
    """Model call (decides a tool) 0.10-1.05, tool 1.10-1.90, answering model call 2.00-2.50."""
    events: list[StreamEvent] = [RunStart(t=0.0, run_id="r1", thread_id="t1", source="astream")]
    events += model_call("m1", 0.10, [(0.55, '{"query":', "tool_args"), (0.80, ' "weather SF"}', "tool_args")], 1.05, 1, 151, 20,
                         ({"name": "search", "args": SEARCH, "id": "c1"},))
    events += [ToolDecision(t=1.05, tool="search", args=SEARCH, tool_call_id="c1", model_call_id="m1", node="llm", step=1),
               ToolStart(t=1.10, tool="search", tool_call_id="c1", args=SEARCH, node="tools"), ToolEnd(t=1.90 + shift, tool="search", tool_call_id="c1", result="sunny", error=None, node="tools", started=1.10)]
    events += model_call("m2", 2.00 + shift, [(2.30 + shift, "It is", "text"), (2.40 + shift, " sunny.", "text")], 2.50 + shift, 3, 190, 5)
    return events + [RunEnd(t=2.60 + shift, run_id="r1")]


def test_model_call_numbers() -> None:
    first, tool, second = compute_timings(run_a()).calls
    assert (first.kind, first.name, first.label, first.step, first.call_id) == ("model", "llm#1", "llm", 1, "m1")
    assert first.time_to_first_token == approx(0.45) and first.duration == approx(0.95)
    assert first.first_chunk == first.first_token == 0.55
    assert first.tokens_per_second == approx(40.0)  # 20 tokens from 0.55 to 1.05
    assert (first.chunks, first.input_tokens, first.output_tokens, first.incomplete) == (4, 151, 20, False)
    assert (second.name, second.tokens_per_second) == ("llm#2", approx(25.0))
    assert (tool.kind, tool.name, tool.node, tool.step, tool.duration) == ("tool", "search", "tools", 1, approx(0.80))
    assert tool.first_token is None and tool.time_to_first_chunk is None and tool.tokens_per_second is None


def test_run_totals() -> None:
    t = compute_timings(run_a())
    assert (t.run_start, t.run_end, t.complete) == (0.0, 2.60, True)
    assert t.wall_time == approx(2.60) and t.model_time == approx(1.45) and t.tool_time == approx(0.80)
    assert t.other_time == approx(0.35)
    assert (t.input_tokens, t.output_tokens) == (341, 25)
    assert t.time_to_first_token == approx(2.30)  # the first *text* token: tool arguments are not an answer
    assert t.bottleneck() is t.slowest and t.slowest.name == "llm#1"


def test_format_timings_exact_text() -> None:
    assert format_timings(compute_timings(run_a())).splitlines() == [
        "Timings: 2 model calls, 1 tool call",
        "model  llm#1   ttft 0.45 s  dur 0.95 s  in 151  out 20  40.0 tok/s  $0.00058",
        "tool   search  dur 0.80 s",
        "model  llm#2   ttft 0.30 s  dur 0.50 s  in 190  out 5  25.0 tok/s  $0.00053",
        "total  wall 2.60 s  model 1.45 s  tool 0.80 s  other 0.35 s  in 341  out 25  ttft 2.30 s",
        "cost   $0.0011 for 2 model calls (USD, genai-prices 0.2.3 price table, offline)",
    ]


def sanitize(text: str) -> str:
    """The notebooks' nbval sanitizer (notebooks/sanitize.cfg), applied in its order."""
    return re.sub(r"\b\d+(\.\d+)? tok/s\b", "RATE", re.sub(r"\b\d+(\.\d+)?\s?(ms|s)\b", "T", text))


def test_text_is_the_same_once_times_are_masked() -> None:
    slow, fast = format_timings(compute_timings(run_a(shift=1.7))), format_timings(compute_timings(run_a()))
    assert slow != fast
    assert sanitize(slow) == sanitize(fast)
    assert sanitize(fast).splitlines()[1] == "model  llm#1   ttft T  dur T  in 151  out 20  RATE  $0.00058"


def test_cancelled_run_ends_open_calls_at_the_last_event() -> None:
    events = [RunStart(t=0.0, run_id="r", thread_id="t", source="astream"), ModelStart(t=0.20, call_id="m1", node="llm", step=1),
              Token(t=0.60, call_id="m1", text="Hel"), Token(t=0.90, call_id="m1", text="lo"), RunEnd(t=1.20, run_id="r", status="cancelled")]
    (call,) = compute_timings(events).calls
    assert (call.incomplete, call.end, call.chunks, call.output_tokens, call.tokens_per_second) == (True, 1.20, 2, None, None)
    assert format_timings(compute_timings(events)).splitlines()[1] == (
        "model  llm#1  ttft 0.40 s  dur 1.00 s  in -  out -  - tok/s  no usage  incomplete"
    )
    running = compute_timings(events[:-1])  # mid-run, as the live panel sees it
    assert (running.complete, running.run_end, running.calls[0].end) == (False, 0.90, 0.90)
    assert format_timings(running).splitlines()[0] == "Timings: 1 model call, 0 tool calls (run not finished)"


def test_tool_times_come_from_the_adapters_pairing() -> None:
    """Each ToolEnd carries its start's time (the adapter paired them): ends out of order, twins, no start seen."""
    events = [RunStart(t=0.0, run_id="r", thread_id=None, source="astream_events"),
              ToolStart(t=0.10, tool="search", tool_call_id="s1"), ToolStart(t=0.20, tool="search", tool_call_id="s2"),
              ToolStart(t=0.30, tool="fetch", tool_call_id="f1"),
              ToolEnd(t=0.50, tool="search", tool_call_id="s2", result="b", started=0.20),
              ToolEnd(t=0.60, tool="fetch", tool_call_id="f1", result="", error="TimeoutError: slow\nsite", started=0.30),
              ToolEnd(t=0.90, tool="search", tool_call_id="s1", result="a", started=0.10), ToolStart(t=1.00, tool="fetch", tool_call_id="f2"),
              RunEnd(t=1.50, run_id="r")]
    t = compute_timings(events)
    assert [(c.call_id, c.name, c.start, c.end, c.error, c.incomplete) for c in t.calls] == [
        ("s1", "search", 0.10, 0.90, None, False), ("s2", "search", 0.20, 0.50, None, False),
        ("f1", "fetch", 0.30, 0.60, "TimeoutError: slow\nsite", False), ("f2", "fetch", 1.00, 1.50, None, True),
    ]
    assert t.tool_time == approx(1.30)  # 0.10-0.90 and 1.00-1.50: parallel calls counted once
    assert format_timings(t).splitlines()[3:5] == [
        "tool   fetch   dur 0.30 s  error: TimeoutError: slow site", "tool   fetch   dur 0.50 s  incomplete",
    ]


def test_timings_trust_the_end_not_a_pairing_of_their_own() -> None:
    """``started`` is the start; an end whose start was never seen (None) is a zero-length call at its end."""
    events = [RunStart(t=0.0, run_id="r", thread_id="t", source="served"),
              ToolEnd(t=0.4, tool="search", tool_call_id="a", result="A", started=0.1),  # its tool_start was not sent
              ToolEnd(t=0.7, tool="search", tool_call_id="b", result="B"), RunEnd(t=1.0, run_id="r")]
    t = compute_timings(events)
    assert [(c.call_id, c.start, c.duration, c.incomplete) for c in t.calls] == [("a", 0.1, approx(0.3), False), ("b", 0.7, 0.0, False)]
    assert (t.tool_time, t.other_time) == (approx(0.3), approx(0.7))


def test_no_rate_without_a_generation_span() -> None:
    events = [RunStart(t=0.0, run_id="r", thread_id="t", source="astream"), ModelStart(t=0.1, call_id="m", node="llm", step=1), Token(t=0.5, call_id="m", text="Hi"),
              ModelEnd(t=0.5, call_id="m", node="llm", step=1, text="Hi", chunks=1, input_tokens=10, output_tokens=1), RunEnd(t=0.6, run_id="r")]
    assert compute_timings(events).calls[0].tokens_per_second is None


def test_only_the_last_run_counts() -> None:
    t = compute_timings(run_a() + [RunStart(t=0.0, run_id="r2", thread_id="t1", source="astream"), RunEnd(t=0.3, run_id="r2")])
    assert (t.calls, t.wall_time) == ((), 0.3)
    assert format_timings(t).splitlines() == [
        "Timings: 0 model calls, 0 tool calls", "total  wall 0.30 s  model 0.00 s  tool 0.00 s  other 0.30 s  in -  out -  ttft -",
    ]


def test_turn_totals() -> None:
    second = [RunStart(t=0.0, run_id="r2", thread_id="t1", source="astream"), *model_call("m3", 0.1, [(0.3, "Yes", "text")], 0.5, 1, 400, None), RunEnd(t=0.7, run_id="r2")]
    totals = turn_totals([compute_timings(run_a()), compute_timings(second)])
    first, two = totals.turns
    assert (first.turn, first.model_calls, first.tool_calls, first.input_tokens, first.output_tokens) == (1, 2, 1, 341, 25)
    assert (two.turn, two.model_calls, two.tool_calls, two.input_tokens, two.output_tokens) == (2, 1, 0, 400, None)
    o = totals.overall
    assert (o.turn, o.model_calls, o.tool_calls, o.input_tokens, o.output_tokens) == (None, 3, 1, 741, 25)
    assert (o.wall_time, o.model_time, o.tool_time) == (approx(3.3), approx(1.85), approx(0.8))


def test_cost_per_call_and_per_turn_in_the_text_and_the_table() -> None:
    """Each model row ends with its price; the turn's cost closes the text and sits under the panel's table."""
    from lessonkit.panels.timings import table_html

    unknown = [replace(e, model="my-fine-tune") if isinstance(e, ModelEnd) and e.call_id == "m1" else e for e in run_a()]
    text = format_timings(compute_timings(unknown)).splitlines()
    assert text[1].endswith("40.0 tok/s  unknown price") and text[3].endswith("$0.00053")
    assert text[-1].startswith("cost   at least $0.00053 for 2 model calls, 1 with unknown price: my-fine-tune is not in the price table")
    html = table_html(compute_timings(run_a()))
    assert "<th>cost</th>" in html and "title='priced as openai gpt-4o'>$0.00058</td>" in html
    assert "This turn cost <b>$0.0011</b>" in html and "genai-prices" in html
    no_model = table_html(compute_timings([*run_a()[:1], ModelEnd(t=0.5, call_id="x", node="llm", step=1, text="", chunks=1, input_tokens=1, output_tokens=1)]))
    assert "title='a call&#x27;s model is not known'>unknown price</td>" in no_model  # the reason on hover, quotes escaped
