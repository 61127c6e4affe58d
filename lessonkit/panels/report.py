"""A run's report and its state words: plain text that nbval can compare, decided in pure functions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..stream.events import RunEnd, StreamEvent

STOPPED_STATUS = "stopped: the last checkpoint is kept; the next turn on this thread continues from it"
SHOWN_STATUS = {"cancelled": "stopped"}  # a RunEnd's status, in the words of the Stop button


@dataclass(frozen=True)
class RunReport:
    """What a finished run leaves behind, as deterministic text (times are masked by the sanitizer).

    ``label`` (thread and question) heads it when the dashboard holds several runs; with one run the
    head is ``Run on thread '…': status`` as it always was.
    """

    status: str
    thread_id: str | None
    transcript: str
    decisions: str
    timings: str
    label: str | None = None

    def __str__(self) -> str:
        head = f"{self.label}: {self.status}" if self.label else f"Run on thread {self.thread_id!r}: {self.status}"
        return "\n".join([head, "", "Transcript", _indent(self.transcript), "", "Tool decisions", _indent(self.decisions), "", "Timings", _indent(self.timings)])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


@dataclass(frozen=True)
class StepsBar:
    """The steps bar's state: how many steps ran, of how many, its colour and its word."""

    value: int
    max: int
    bar_style: str = ""
    description: str = "steps"


def steps_at_end(status: str, steps_done: int) -> StepsBar:
    """The bar when a run ends: full when done; otherwise the steps that ran and the one that did not finish."""
    if status == "done":
        return StepsBar(max(steps_done, 1), max(steps_done, 1), "success")
    style, word = {"interrupted": ("info", "paused"), "cancelled": ("warning", "stopped"), "error": ("danger", "failed")}.get(status, ("", "steps"))
    return StepsBar(steps_done, steps_done + 1, style, word)


def run_status(events: list[StreamEvent]) -> str:
    """A run's status as the dashboard words it: done, interrupted, stopped, error, or running."""
    end = next((e for e in reversed(events) if isinstance(e, RunEnd)), None)
    return SHOWN_STATUS.get(end.status, end.status) if end else "running"
