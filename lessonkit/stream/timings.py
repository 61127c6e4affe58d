"""Where a run's time went: one ``CallTiming`` per model or tool call, computed from the event model.

Written once over ``events.py`` so the timings panel, the dashboard and the debugging recipes agree.
Text output writes every time as ``<n> s`` and every rate as ``<n> tok/s``: the notebooks' nbval
sanitizer masks exactly those, and everything else (labels, counts, order) depends only on the events.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Literal, Sequence

from .cost import Cost, TurnCost, add_turns, cost_line, price, turn_cost
from .events import ModelEnd, ModelStart, RunEnd, RunStart, StreamEvent, Token, ToolDecision, ToolEnd, ToolStart


@dataclass(frozen=True)
class CallTiming:
    """One model or tool call; times are the events' ``t`` (seconds since the run started)."""

    kind: Literal["model", "tool"]
    call_id: str | None
    label: str  # the node for a model call, the tool's name for a tool call
    node: str | None
    step: int | None
    start: float
    end: float
    first_chunk: float | None  # no chunk event exists: approximated by the first token (None for tools)
    first_token: float | None  # first Token of any kind (answer text or tool arguments)
    chunks: int  # from ModelEnd; for an unfinished call, the tokens seen so far
    input_tokens: int | None
    output_tokens: int | None
    error: str | None
    incomplete: bool = False  # no end event: the run stopped (cancelled, error) mid-call
    ordinal: int = 1  # 1-based, among calls of the same kind and label, in start order
    cached_input_tokens: int | None = None  # of input_tokens, from the prompt cache
    model: str | None = None  # what answered (ModelEnd's), else what was asked for (ModelStart's)
    provider: str | None = None

    @property
    def name(self) -> str:
        """``llm#2`` for the second call from node ``llm``; a tool's own name for a tool."""
        return f"{self.label}#{self.ordinal}" if self.kind == "model" else self.label

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def cost(self) -> Cost | None:
        """A model call's price in USD from its usage (``cost.price``); None for a tool call."""
        return price(self.model, self.provider, self.input_tokens, self.cached_input_tokens, self.output_tokens) if self.kind == "model" else None

    @property
    def time_to_first_chunk(self) -> float | None:
        return None if self.first_chunk is None else self.first_chunk - self.start

    @property
    def time_to_first_token(self) -> float | None:
        """Waiting time before output began: prompt processing and queueing, mostly."""
        return None if self.first_token is None else self.first_token - self.start

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed: output tokens over the time from first token to end (None if unknown)."""
        if self.output_tokens is None or self.first_token is None:
            return None
        span = self.end - self.first_token
        return self.output_tokens / span if self.output_tokens > 0 and span > 0 else None


def _union(calls: Sequence[CallTiming]) -> float:
    """Wall-clock time covered by at least one of ``calls`` (parallel calls counted once)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted((c.start, c.end) for c in calls):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class RunTimings:
    """All calls of one run, in start order, and the run's totals."""

    calls: tuple[CallTiming, ...]
    run_start: float
    run_end: float  # RunEnd's t, or the last event's t if the run has not ended
    first_text_token: float | None = None  # first answer-text token of the run
    complete: bool = True  # a RunEnd was seen
    status: str | None = None  # the RunEnd's: done, interrupted, cancelled (stopped) or error

    @property
    def wall_time(self) -> float:
        return self.run_end - self.run_start

    @property
    def model_time(self) -> float:
        return _union([c for c in self.calls if c.kind == "model"])

    @property
    def tool_time(self) -> float:
        return _union([c for c in self.calls if c.kind == "tool"])

    @property
    def other_time(self) -> float:
        """Time inside no call: graph overhead, checkpointing, your own node code."""
        return max(self.wall_time - _union(self.calls), 0.0)

    @property
    def input_tokens(self) -> int | None:
        return _sum([c.input_tokens for c in self.calls if c.kind == "model"])

    @property
    def output_tokens(self) -> int | None:
        return _sum([c.output_tokens for c in self.calls if c.kind == "model"])

    @property
    def cost(self) -> TurnCost:
        """The turn's cost: its model calls' prices added up (partial if one has an unknown price)."""
        return turn_cost(c.cost for c in self.calls if c.cost is not None)

    @property
    def time_to_first_token(self) -> float | None:
        """What the user waits before the answer starts appearing."""
        return None if self.first_text_token is None else self.first_text_token - self.run_start

    @property
    def slowest(self) -> CallTiming | None:
        """The longest call (the earliest of equals)."""
        return max(self.calls, key=lambda c: c.duration, default=None)

    def bottleneck(self) -> CallTiming | None:
        """The call to look at first: the slowest one."""
        return self.slowest


def split_runs(events: Sequence[StreamEvent]) -> list[list[StreamEvent]]:
    """Cut a stream at each RunStart (``t`` restarts at every run, so runs cannot be mixed)."""
    runs: list[list[StreamEvent]] = []
    for event in events:
        if isinstance(event, RunStart) or not runs:
            runs.append([])
        runs[-1].append(event)
    return runs


def compute_timings(events: Sequence[StreamEvent]) -> RunTimings:
    """Timings of one run (the last one if ``events`` holds several); unfinished calls end at the last event.

    Tool calls need no pairing here: the adapter gave each ToolEnd its ToolStart's id and time.
    """
    events = split_runs(events)[-1] if events else []
    last = events[-1].t if events else 0.0
    run_start = next((e.t for e in events if isinstance(e, RunStart)), events[0].t if events else 0.0)
    run_end = next((e for e in reversed(events) if isinstance(e, RunEnd)), None)
    decisions = {e.tool_call_id: e for e in events if isinstance(e, ToolDecision)}
    starts: dict[str, ModelStart] = {}
    tokens: dict[str, list[Token]] = defaultdict(list)
    open_tools: dict[str, ToolStart] = {}
    calls: list[CallTiming] = []
    first_text: float | None = None

    def model(call_id: str, end: ModelEnd | None) -> CallTiming:
        begin, seen = starts.pop(call_id, None), tokens.pop(call_id, [])
        first = seen[0].t if seen else None
        stop = end.t if end else last
        start = begin.t if begin else (first if first is not None else stop)
        where: ModelEnd | ModelStart = end or begin  # type: ignore[assignment]
        return CallTiming(
            kind="model", call_id=call_id, label=where.node, node=where.node, step=where.step, start=start, end=stop,
            first_chunk=first, first_token=first, chunks=end.chunks if end else len(seen),
            input_tokens=end.input_tokens if end else None, output_tokens=end.output_tokens if end else None,
            error=None, incomplete=end is None, cached_input_tokens=end.cached_input_tokens if end else None,
            model=(end.model if end else None) or (begin.model if begin else None), provider=end.provider if end else None,
        )

    def tool(call: ToolStart | ToolEnd, start: float, end: ToolEnd | None) -> CallTiming:
        decision = decisions.get(call.tool_call_id)
        return CallTiming(
            kind="tool", call_id=call.tool_call_id, label=call.tool, node=call.node or (decision.node if decision else None),
            step=decision.step if decision else None, start=start, end=end.t if end else last,
            first_chunk=None, first_token=None, chunks=0, input_tokens=None, output_tokens=None,
            error=end.error if end else None, incomplete=end is None,
        )

    for event in events:
        if isinstance(event, ModelStart):
            starts[event.call_id] = event
        elif isinstance(event, Token):
            tokens[event.call_id].append(event)
            if event.token_kind == "text" and first_text is None:
                first_text = event.t
        elif isinstance(event, ModelEnd):
            calls.append(model(event.call_id, event))
        elif isinstance(event, ToolStart):
            open_tools[event.tool_call_id] = event
        elif isinstance(event, ToolEnd):
            open_tools.pop(event.tool_call_id, None)
            calls.append(tool(event, event.started if event.started is not None else event.t, event))
    calls += [model(call_id, None) for call_id in list(starts)]
    calls += [tool(begin, begin.t, None) for begin in open_tools.values()]
    calls.sort(key=lambda c: c.start)  # stable: equal starts keep event order
    counts: dict[tuple[str, str], int] = defaultdict(int)
    numbered = []
    for call in calls:
        counts[call.kind, call.label] += 1
        numbered.append(replace(call, ordinal=counts[call.kind, call.label]))
    return RunTimings(tuple(numbered), run_start, run_end.t if run_end else last, first_text, run_end is not None,
                      run_end.status if run_end else None)


@dataclass(frozen=True)
class TurnTotals:
    """One turn's (or, with ``turn=None``, the whole conversation's) totals."""

    turn: int | None
    wall_time: float
    model_time: float
    tool_time: float
    model_calls: int
    tool_calls: int
    input_tokens: int | None
    output_tokens: int | None
    cost: TurnCost | None = None


@dataclass(frozen=True)
class ConversationTotals:
    turns: tuple[TurnTotals, ...]
    overall: TurnTotals


def turn_totals(runs: Sequence[RunTimings]) -> ConversationTotals:
    """Totals per turn (one run on a thread) and summed over the conversation: cost grows with history."""
    rows = tuple(
        TurnTotals(
            i, r.wall_time, r.model_time, r.tool_time, sum(c.kind == "model" for c in r.calls),
            sum(c.kind == "tool" for c in r.calls), r.input_tokens, r.output_tokens, r.cost,
        )
        for i, r in enumerate(runs, 1)
    )
    overall = TurnTotals(
        None, sum(r.wall_time for r in rows), sum(r.model_time for r in rows), sum(r.tool_time for r in rows),
        sum(r.model_calls for r in rows), sum(r.tool_calls for r in rows),
        _sum([r.input_tokens for r in rows]), _sum([r.output_tokens for r in rows]), add_turns([r.cost for r in rows if r.cost]),
    )
    return ConversationTotals(rows, overall)


def format_seconds(value: float | None) -> str:
    """``0.45 s`` (what the sanitizer masks), or ``-`` when unknown."""
    return "-" if value is None else f"{max(value, 0.0):.2f} s"


def format_rate(value: float | None) -> str:
    return "- tok/s" if value is None else f"{value:.1f} tok/s"


def _count(value: int | None, cached: int | None = None) -> str:
    """A token count, and how many of them came from the prompt cache (when some did)."""
    return ("-" if value is None else str(value)) + (f" ({cached} cached)" if cached else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_note(timings: RunTimings) -> str:
    """What the header adds about how the run ended: nothing when it finished."""
    if not timings.complete:
        return " (run not finished)"
    return {"cancelled": " (stopped)", "error": " (failed)"}.get(timings.status or "", "")


def format_timings(timings: RunTimings) -> str:
    """A plain-text table: a header, one row per call in start order, a totals line, the turn's cost."""
    calls = timings.calls
    n_model = sum(c.kind == "model" for c in calls)
    header = f"Timings: {_plural(n_model, 'model call')}, {_plural(len(calls) - n_model, 'tool call')}"
    lines = [header + run_note(timings)]
    width = max((len(c.name) for c in calls), default=0)
    for c in calls:
        row = f"{c.kind:<6} {c.name:<{width}}  "
        if c.kind == "model":
            row += (
                f"ttft {format_seconds(c.time_to_first_token)}  dur {format_seconds(c.duration)}  "
                f"in {_count(c.input_tokens, c.cached_input_tokens)}  out {_count(c.output_tokens)}  "
                f"{format_rate(c.tokens_per_second)}  {c.cost}"
            )
        else:
            row += f"dur {format_seconds(c.duration)}"
        if c.error:
            row += f"  error: {' '.join(c.error.split())[:60]}"
        lines.append(row + ("  incomplete" if c.incomplete else ""))
    lines.append(
        f"total  wall {format_seconds(timings.wall_time)}  model {format_seconds(timings.model_time)}  "
        f"tool {format_seconds(timings.tool_time)}  other {format_seconds(timings.other_time)}  "
        f"in {_count(timings.input_tokens)}  out {_count(timings.output_tokens)}  ttft {format_seconds(timings.time_to_first_token)}"
    )
    return "\n".join(filter(None, [*lines, cost_line(timings.cost)]))  # no cost line without model calls
