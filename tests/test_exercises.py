"""Exercise cells: the verdict each state prints, and what the check lets through."""
from __future__ import annotations

import pytest

import lessonkit
from lessonkit.errors import RecordingMissError
from lessonkit.exercises import verdict


def test_unsolved_placeholder_says_not_yet_with_the_hint_whatever_the_block_did() -> None:
    text = verdict(answers=(..., 3), outcome=(True, "right"), error=None, hint="count them")
    assert text == "✗ not yet: replace the ... on the line marked ←. Hint: count them"
    assert verdict(answers=(...,), outcome=None, error=TypeError("object of type 'ellipsis' has no len()"), hint="h") == text.replace("count them", "h")


def test_right_wrong_and_raising_answers() -> None:
    assert verdict(answers=(12,), outcome=(True, "12 messages"), error=None, hint="h") == "✓ correct: 12 messages"
    assert verdict(answers=(11,), outcome=(False, "12 messages"), error=None, hint="count them") == "✗ not yet. Hint: count them"
    raised = verdict(answers=("x",), outcome=None, error=KeyError("messages"), hint="h")
    assert raised == "✗ not yet: your answer raised KeyError: 'messages'. Hint: h"
    assert verdict(answers=(), outcome=None, error=None, hint="") == "✗ not yet: the cell never called check(passed, why)."


def test_the_cell_form_prints_one_line_and_swallows_a_wrong_answers_error(capsys: pytest.CaptureFixture[str]) -> None:
    answer = ...
    with lessonkit.exercise(answer, hint="use len()") as check:
        check(len(answer) == 12, f"{len(answer)} messages")  # type: ignore[arg-type]
    answer = [1, 2]
    with lessonkit.exercise(answer, hint="use len()") as check:
        check(len(answer) == 2, f"{len(answer)} messages")
    with lessonkit.exercise(answer, hint="use len()") as check:
        check(answer["messages"] == 2, "never")  # type: ignore[call-overload]
    assert capsys.readouterr().out.splitlines() == [
        "✗ not yet: replace the ... on the line marked ←. Hint: use len()",
        "✓ correct: 2 messages",
        "✗ not yet: your answer raised TypeError: list indices must be integers or slices, not str. Hint: use len()",
    ]


def test_lessonkits_own_errors_and_stops_are_not_wrong_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RecordingMissError):
        with lessonkit.exercise(1, hint="h"):
            raise RecordingMissError("not in the recording")
    with pytest.raises(KeyboardInterrupt):
        with lessonkit.exercise(1, hint="h"):
            raise KeyboardInterrupt
    assert capsys.readouterr().out == ""


def test_the_one_line_check_of_earlier_lessons_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    lessonkit.check(2 == 2, "2 messages", hint="count them")
    lessonkit.check(1 == 2, "2 messages", hint="count them")
    assert capsys.readouterr().out.splitlines() == ["✓ correct: 2 messages", "✗ not yet. Hint: count them"]
