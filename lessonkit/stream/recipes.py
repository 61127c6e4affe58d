"""The debugging recipes of "Debugging LLMs with Streaming", as checks over recorded events.

Each recipe reads the normalized events of a run (or of a conversation: one event list per turn)
and returns a ``Finding``: ✓ or ⚠, a one-line summary and the evidence. Timing numbers come from
``timings.compute_timings``; times are written ``<n> s`` so notebook outputs stay comparable.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .events import ModelEnd, RunStart, StreamEvent, ToolDecision, ToolStart
from .timings import compute_timings, format_rate, format_seconds


@dataclass(frozen=True)
class Finding:
    """What a recipe found: ``ok`` is False when there is something to look at."""

    name: str
    ok: bool
    summary: str
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"{'✓' if self.ok else '⚠'} {self.name}: {self.summary}", *(f"  {d}" for d in self.details)])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def _quote(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= limit else flat[:limit] + "…", ensure_ascii=False)


def _args(args: Mapping[str, Any]) -> str:
    return json.dumps(dict(args), sort_keys=True, ensure_ascii=False, default=str)


def tool_not_used(events: Sequence[StreamEvent], expected: str | None = None) -> Finding:
    """The model answered without calling a tool (or without calling ``expected``)."""
    name = "tool_not_used"
    used = [e.tool for e in events if isinstance(e, ToolDecision)]
    answers = [e for e in events if isinstance(e, ModelEnd) and not e.tool_calls]
    names = {c.call_id: c.name for c in compute_timings(events).calls if c.kind == "model"}
    called = ", ".join(f"{tool} x{used.count(tool)}" for tool in dict.fromkeys(used))
    if (expected is None and used) or (expected is not None and expected in used):
        return Finding(name, True, f"the model called {called}")
    if not answers:
        return Finding(name, True, "no model answer in this run: nothing to check")
    answer = answers[-1]
    missing = "any tool" if expected is None else expected
    details = [f"answered by {names.get(answer.call_id, answer.node)}: {_quote(answer.text)}"]
    details += [f"tools called instead: {called}"] if used else []
    details += [
        "possible reasons: the model thinks it knows the answer; the question is vague; "
        "the system prompt does not ask for tools; the tool description is unclear",
        "try: a more specific question, a system prompt that asks for current information, a clearer tool description",
    ]
    return Finding(name, False, f"the model answered without calling {missing}", tuple(details))


def _normal(args: Mapping[str, Any]) -> str:
    """Arguments with case, punctuation and spacing removed: "Weather in SF?" ~ "weather in sf"."""
    return " ".join(re.sub(r"[^\w\s]", " ", _args(args).lower()).split())


def _tool_calls(events: Sequence[StreamEvent]) -> list[tuple[str, Mapping[str, Any]]]:
    """What the model asked for, plus tools run without a decision (outside the agent), in time order."""
    decided = {e.tool_call_id for e in events if isinstance(e, ToolDecision)}
    chosen = [
        e for e in events
        if isinstance(e, ToolDecision) or (isinstance(e, ToolStart) and e.tool_call_id not in decided)
    ]
    return [(e.tool, e.args) for e in sorted(chosen, key=lambda e: e.t)]


def too_many_tool_calls(events: Sequence[StreamEvent], limit: int = 3) -> Finding:
    """More than ``limit`` tool calls, or one tool called again with (nearly) the same arguments: a loop."""
    calls = _tool_calls(events)
    groups: dict[tuple[str, str], list[int]] = {}  # same tool, near-identical arguments -> call indexes
    for i, (tool, args) in enumerate(calls):
        groups.setdefault((tool, _normal(args)), []).append(i)
    loops = [g for g in groups.values() if len(g) > 1]
    details = [f"{i}. {tool} {_args(args)}" for i, (tool, args) in enumerate(calls, 1)]
    details += [
        f"loop: {calls[g[0]][0]} called {len(g)} times with near-identical arguments (calls {', '.join(str(i + 1) for i in g)})"
        for g in loops
    ]
    if len(calls) <= limit and not loops:
        return Finding("too_many_tool_calls", True, f"{len(calls)} tool call{'' if len(calls) == 1 else 's'} (limit {limit})", tuple(details))
    problem = [f"{len(calls)} tool calls, over the limit of {limit}"] if len(calls) > limit else []
    problem += [f"{len(loops)} repeated call{'s' if len(loops) > 1 else ''} (a loop?)"] if loops else []
    details.append(
        "try: a system prompt that asks for efficiency, a cap on tool rounds in the routing logic, "
        "better queries so one result is enough"
    )
    return Finding("too_many_tool_calls", False, "; ".join(problem), tuple(details))


def context_across_turns(runs: Sequence[Sequence[StreamEvent]], limit_tokens: int = 128_000) -> Finding:
    """Input tokens of each turn's first model call: on one thread they should grow with the history."""
    name = "context_across_turns"
    rows: list[tuple[int, str | None, int | None]] = []
    for turn, events in enumerate(runs, 1):
        start = next((e for e in events if isinstance(e, RunStart)), None)
        first = next((c for c in compute_timings(events).calls if c.kind == "model"), None)
        rows.append((turn, start.thread_id if start else None, first.input_tokens if first else None))
    details, problems, growths = [], [], []
    for i, (turn, thread, tokens) in enumerate(rows):
        line = f"turn {turn}  thread {thread}  first call in {'-' if tokens is None else tokens}"
        if i:
            _, before_thread, before = rows[i - 1]
            if thread != before_thread:
                problems.append(f"thread changed at turn {turn} ({before_thread} -> {thread}): a new thread starts empty")
            elif tokens is not None and before is not None:
                growths.append(tokens - before)
                line += f"  ({tokens - before:+d})"
                if tokens <= before:
                    problems.append(
                        f"context did not grow from turn {turn - 1} to turn {turn} ({before} -> {tokens}): "
                        "is a checkpointer attached and the thread id the same?"
                    )
        details.append(line)
    known = [tokens for _, _, tokens in rows if tokens is not None]
    if known and known[-1] >= 0.75 * limit_tokens:
        problems.append(f"approaching the limit: {known[-1]} of {limit_tokens} tokens ({100 * known[-1] // limit_tokens}%)")
    step = sum(growths) / len(growths) if growths else 0
    if known and step > 0 and known[-1] < limit_tokens:
        details.append(f"at +{step:.0f} tokens per turn, the limit of {limit_tokens} is about {int((limit_tokens - known[-1]) // step)} turns away")
    if problems:
        return Finding(name, False, problems[0], tuple(details + problems[1:]))
    if len(known) < 2:
        return Finding(name, True, "not enough turns with token usage to compare", tuple(details))
    return Finding(name, True, "context grew every turn: " + " -> ".join(map(str, known)) + " input tokens", tuple(details))


def performance_summary(events: Sequence[StreamEvent], many_calls: int = 5) -> Finding:
    """Where the time went (model, tools, other), the slowest call, first token, speed, and one hint."""
    timings = compute_timings(events)
    slow = timings.bottleneck()
    where = (
        f"wall {format_seconds(timings.wall_time)}: model {format_seconds(timings.model_time)}, "
        f"tool {format_seconds(timings.tool_time)}, other {format_seconds(timings.other_time)}"
    )
    if slow is None:
        return Finding("performance_summary", timings.complete, where + "; no model or tool calls")
    models = [c for c in timings.calls if c.kind == "model" and c.tokens_per_second is not None]
    details = [
        f"bottleneck: {slow.kind} {slow.name}  dur {format_seconds(slow.duration)}"
        + (f"  ttft {format_seconds(slow.time_to_first_token)}" if slow.kind == "model" else ""),
        f"time to first token: {format_seconds(timings.time_to_first_token)}",
        *(f"speed {c.name}: {format_rate(c.tokens_per_second)}" for c in models),
    ]
    if len(timings.calls) >= many_calls and slow.duration < timings.wall_time / 2:
        advice = f"{len(timings.calls)} calls add up: run independent tools in parallel or take fewer steps"
    elif slow.kind == "tool":
        advice = f"the tool {slow.name} is slow: cache its results and give it a timeout"
    elif (slow.time_to_first_token or 0.0) >= slow.duration / 2:
        advice = "the model is slow to start: shorten the prompt (history, tool results) or use a faster model"
    else:
        advice = "the model spends its time generating: ask for shorter answers or use a faster model"
    failed = [c for c in timings.calls if c.error or c.incomplete]
    details += [f"failed or unfinished: {', '.join(c.name for c in failed)}"] if failed else []
    ok = timings.complete and not failed
    return Finding("performance_summary", ok, f"{where}; bottleneck {slow.name}", (*details, "advice: " + advice))
