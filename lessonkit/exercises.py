"""Self-checking exercise cells: a clear ✓ or ✗ with a hint.

A lesson leaves each exercise unsolved: the line to write is ``...`` and marked ``# ←``. The check
runs inside ``with lessonkit.exercise(answer, hint=...) as check:``, so an unsolved cell prints the
same "✗ not yet" every run (nbval compares it), and a wrong answer that raises inside the check says
what it raised in one line (the student's own line, above the block, raises as any cell does)::

    answer = ...  # ← your expression

    with lessonkit.exercise(answer, hint="count the saved messages") as check:
        check(answer == 12, "4 questions + 4 answers + 2 tool calls + 2 tool results = 12 messages")

The solutions live beside the lessons (``notebooks/solutions/``, see ``lessonkit.harness.solutions``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable

from .errors import LessonkitError

MARK = "# ←"
PLACEHOLDER = "replace the ... on the line marked ←"


def verdict(*, answers: tuple[Any, ...], outcome: tuple[bool, str] | None, error: BaseException | None, hint: str) -> str:
    """What an exercise cell prints (pure): ✓ with why it is right, or ✗ with the hint."""
    tail = f" Hint: {hint}" if hint else ""
    if any(answer is Ellipsis for answer in answers):
        return f"✗ not yet: {PLACEHOLDER}.{tail}"
    if error is not None:
        message = (str(error).strip().splitlines() or [""])[0][:200]
        return f"✗ not yet: your answer raised {type(error).__name__}" + (f": {message}" if message else "") + f".{tail}"
    if outcome is None:
        return "✗ not yet: the cell never called check(passed, why)."
    passed, why = outcome
    return f"✓ correct: {why}" if passed else f"✗ not yet.{tail}"


@dataclass(slots=True)
class Exercise:
    """The context manager behind ``lessonkit.exercise``: runs the check, prints one verdict line."""

    answers: tuple[Any, ...]
    hint: str
    outcome: tuple[bool, str] | None = field(default=None)

    def check(self, passed: bool, why: str) -> None:
        """Record whether the answer is right (the verdict is printed when the block ends)."""
        self.outcome = (bool(passed), why)

    def __enter__(self) -> Callable[[bool, str], None]:
        return self.check

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> bool:
        if error is not None and (not isinstance(error, Exception) or isinstance(error, LessonkitError)):
            return False  # a stop, or lessonkit's own error (a replay miss): that is not a wrong answer
        print(verdict(answers=self.answers, outcome=self.outcome, error=error, hint=self.hint))
        return True


def check(passed: bool, why: str, hint: str = "") -> None:
    """The one-line form of earlier lessons (``lessonkit.check(answer == 2, why, hint=...)``); new ones use ``exercise``."""
    print(verdict(answers=(), outcome=(passed, why), error=None, hint=hint))


def exercise(*answers: Any, hint: str = "") -> Exercise:
    """Check an exercise: ``with lessonkit.exercise(answer, hint=...) as check: check(passed, why)``.

    ``answers`` are the values the student writes; any still ``...`` means "not yet". An error
    raised in the block by a wrong answer is reported as one line, not a traceback.
    """
    return Exercise(answers=answers, hint=hint)
