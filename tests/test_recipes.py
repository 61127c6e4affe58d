"""The manual's debugging recipes over hand-built runs: exact summaries and evidence lines."""
from __future__ import annotations

from typing import Any

from lessonkit.stream.events import ModelEnd, ModelStart, RunEnd, RunStart, StreamEvent, Token, ToolDecision, ToolEnd, ToolStart
from lessonkit.stream.recipes import Finding, context_across_turns, performance_summary, too_many_tool_calls, tool_not_used
from tests.test_timings import run_a


def answer_only(text: str, thread: str = "t1", input_tokens: int | None = 150) -> list[StreamEvent]:
    """A turn in which the model answers straight away: 0.10-0.90, first token at 0.70."""
    return [RunStart(t=0.0, run_id="r", thread_id=thread, source="astream"), ModelStart(t=0.10, call_id="m", node="llm", step=1), Token(t=0.70, call_id="m", text=text[:5]),
            ModelEnd(t=0.90, call_id="m", node="llm", step=1, text=text, chunks=3, input_tokens=input_tokens, output_tokens=10), RunEnd(t=1.00, run_id="r")]


def searches(*queries: str) -> list[StreamEvent]:
    """One model call asks for ``search`` once per query; each search takes 0.10 s."""
    events: list[StreamEvent] = [RunStart(t=0.0, run_id="r", thread_id="t1", source="astream"), ModelStart(t=0.1, call_id="m", node="llm", step=1),
                                 ModelEnd(t=0.2, call_id="m", node="llm", step=1, text="", chunks=1, input_tokens=50, output_tokens=5)]
    for i, query in enumerate(queries):
        args: dict[str, Any] = {"query": query}
        events += [ToolDecision(t=0.2, tool="search", args=args, tool_call_id=f"c{i}", model_call_id="m", node="llm", step=1), ToolStart(t=0.3 + i / 10, tool="search", tool_call_id=f"c{i}", args=args),
                   ToolEnd(t=0.4 + i / 10, tool="search", tool_call_id=f"c{i}", result="result", started=0.3 + i / 10)]
    return events + [RunEnd(t=1.0, run_id="r")]


def test_finding_text() -> None:
    finding = Finding("demo", False, "something is off", ("first", "second"))
    assert str(finding) == "⚠ demo: something is off\n  first\n  second"
    assert str(Finding("demo", True, "fine")) == "✓ demo: fine"

    class Printer:
        def __init__(self) -> None:
            self.out = ""

        def text(self, value: str) -> None:
            self.out += value

    printer = Printer()
    finding._repr_pretty_(printer, False)
    assert printer.out == str(finding)


def test_tool_not_used_quotes_the_answer() -> None:
    finding = tool_not_used(answer_only("I believe it is sunny in San Francisco today, as it usually is in the summer months of the year."))
    assert not finding.ok
    assert finding.summary == "the model answered without calling any tool"
    assert finding.details[0] == (
        'answered by llm#1: "I believe it is sunny in San Francisco today, as it usually is in the summer mon…"'
    )
    assert finding.details[1].startswith("possible reasons:")


def test_tool_used_or_the_expected_one_missing() -> None:
    assert str(tool_not_used(run_a())) == "✓ tool_not_used: the model called search x1"
    assert tool_not_used(run_a(), expected="search").ok
    finding = tool_not_used(run_a(), expected="weather")
    assert (finding.ok, finding.summary) == (False, "the model answered without calling weather")
    assert finding.details[:2] == ('answered by llm#2: "It is sunny."', "tools called instead: search x1")


def test_the_last_answer_is_quoted() -> None:
    first = answer_only("Draft")[:-1]
    events = first + [ModelStart(t=1.0, call_id="m2", node="llm", step=2), Token(t=1.1, call_id="m2", text="Final"), ModelEnd(t=1.2, call_id="m2", node="llm", step=2, text="Final", chunks=1), RunEnd(t=1.3, run_id="r")]
    assert tool_not_used(events).details[0] == 'answered by llm#2: "Final"'


def test_tool_not_used_without_an_answer() -> None:
    events = answer_only("Hello")
    cancelled = [e for e in events if not isinstance(e, ModelEnd)]
    assert tool_not_used(cancelled).summary == "no model answer in this run: nothing to check"


def test_few_distinct_tool_calls_are_fine() -> None:
    finding = too_many_tool_calls(searches("weather SF", "weather LA"))
    assert str(finding).splitlines() == [
        "✓ too_many_tool_calls: 2 tool calls (limit 3)",
        '  1. search {"query": "weather SF"}',
        '  2. search {"query": "weather LA"}',
    ]


def test_a_loop_of_near_identical_calls() -> None:
    finding = too_many_tool_calls(searches("weather SF", "Weather  SF?", "weather LA", "weather sf"))
    assert not finding.ok
    assert finding.summary == "4 tool calls, over the limit of 3; 1 repeated call (a loop?)"
    assert finding.details[3:5] == (
        '4. search {"query": "weather sf"}',
        "loop: search called 3 times with near-identical arguments (calls 1, 2, 4)",
    )
    assert too_many_tool_calls(searches("a", "a")).summary == "1 repeated call (a loop?)"
    assert too_many_tool_calls(searches("a", "b", "c", "d"), limit=4).ok


def test_tools_run_outside_the_agent_count_too() -> None:
    events = [RunStart(t=0.0, run_id="r", thread_id=None, source="astream"), ToolStart(t=0.1, tool="fetch", tool_call_id="run-1", args={"url": "x"}), ToolEnd(t=0.2, tool="fetch", tool_call_id="run-1", result="", started=0.1),
              ToolStart(t=0.3, tool="fetch", tool_call_id="run-2", args={"url": "x"}), ToolEnd(t=0.4, tool="fetch", tool_call_id="run-2", result="", started=0.3), RunEnd(t=0.5, run_id="r")]
    assert too_many_tool_calls(events).details[-2] == "loop: fetch called 2 times with near-identical arguments (calls 1, 2)"


def test_context_grows_on_one_thread() -> None:
    finding = context_across_turns([answer_only("a", input_tokens=150), answer_only("b", input_tokens=420), answer_only("c", input_tokens=690)])
    assert str(finding).splitlines() == [
        "✓ context_across_turns: context grew every turn: 150 -> 420 -> 690 input tokens",
        "  turn 1  thread t1  first call in 150",
        "  turn 2  thread t1  first call in 420  (+270)",
        "  turn 3  thread t1  first call in 690  (+270)",
        "  at +270 tokens per turn, the limit of 128000 is about 471 turns away",
    ]


def test_context_that_does_not_grow_means_no_memory() -> None:
    finding = context_across_turns([answer_only("a", input_tokens=150), answer_only("b", input_tokens=152), answer_only("c", input_tokens=151)])
    assert not finding.ok
    assert finding.summary == (
        "context did not grow from turn 2 to turn 3 (152 -> 151): is a checkpointer attached and the thread id the same?"
    )
    assert finding.details[2] == "turn 3  thread t1  first call in 151  (-1)"


def test_context_that_stays_the_same_is_flagged() -> None:
    finding = context_across_turns([answer_only("a", input_tokens=150), answer_only("b", input_tokens=150)])
    assert (finding.ok, finding.details[1]) == (False, "turn 2  thread t1  first call in 150  (+0)")


def test_a_changed_thread_id_is_named() -> None:
    finding = context_across_turns([answer_only("a", "t1", 150), answer_only("b", "t2", 150)])
    assert (finding.ok, finding.summary) == (False, "thread changed at turn 2 (t1 -> t2): a new thread starts empty")


def test_context_near_the_limit_and_unknown_usage() -> None:
    near = context_across_turns([answer_only("a", input_tokens=90_000), answer_only("b", input_tokens=100_000)], limit_tokens=128_000)
    assert (near.ok, near.summary) == (False, "approaching the limit: 100000 of 128000 tokens (78%)")
    unknown = context_across_turns([answer_only("a", input_tokens=None), answer_only("b", input_tokens=None)])
    assert (unknown.ok, unknown.summary) == (True, "not enough turns with token usage to compare")
    assert unknown.details == ("turn 1  thread t1  first call in -", "turn 2  thread t1  first call in -")


def test_performance_summary_of_a_model_bound_run() -> None:
    assert str(performance_summary(run_a())).splitlines() == [
        "✓ performance_summary: wall 2.60 s: model 1.45 s, tool 0.80 s, other 0.35 s; bottleneck llm#1",
        "  bottleneck: model llm#1  dur 0.95 s  ttft 0.45 s",
        "  time to first token: 2.30 s",
        "  speed llm#1: 40.0 tok/s",
        "  speed llm#2: 25.0 tok/s",
        "  advice: the model spends its time generating: ask for shorter answers or use a faster model",
    ]


def test_performance_advice_per_bottleneck_kind() -> None:
    slow_start = answer_only("Hello")  # first token after 0.60 of a 0.80 s call
    assert performance_summary(slow_start).details[-1] == (
        "advice: the model is slow to start: shorten the prompt (history, tool results) or use a faster model"
    )
    slow_tool = searches("a")[:-1] + [ToolStart(t=0.5, tool="fetch", tool_call_id="f", args={}), ToolEnd(t=1.4, tool="fetch", tool_call_id="f", result="", started=0.5), RunEnd(t=1.5, run_id="r")]
    finding = performance_summary(slow_tool)
    assert finding.summary.endswith("; bottleneck fetch")
    assert finding.details[-1] == "advice: the tool fetch is slow: cache its results and give it a timeout"
    many = performance_summary(searches("a", "b", "c", "d", "e"))
    assert many.details[-1] == "advice: 6 calls add up: run independent tools in parallel or take fewer steps"


def test_performance_of_a_cancelled_run_is_flagged() -> None:
    events = [e for e in answer_only("Hello") if not isinstance(e, ModelEnd)]
    events[-1] = RunEnd(t=1.0, run_id="r", status="cancelled")
    finding = performance_summary(events)
    assert not finding.ok and finding.details[-2] == "failed or unfinished: llm#1"
