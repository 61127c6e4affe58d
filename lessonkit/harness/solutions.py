"""Exercise solutions kept beside the lessons, and the solved lesson built from them.

A committed lesson shows its exercises unsolved (see ``lessonkit.exercises``). Its solutions live in
``notebooks/solutions/<lesson>.py``, one block per exercise::

    # %% exercise 1
    answer = len(agent.get_state(thread_1).values["messages"])

Exercise N is the N-th code cell with a line marked ``# ←``; its block replaces the marked line(s).
``solved`` builds the lesson with every block in place (CI runs it and expects every check to say ✓);
nothing is copied, so a lesson and its solutions cannot drift apart unnoticed.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from ..errors import LessonkitError
from ..exercises import MARK

BLOCK = re.compile(r"^# %% exercise (\d+)[ \t]*$", re.MULTILINE)


class SolutionsError(LessonkitError):
    """A solutions file that does not match its lesson's exercises."""


def solutions_path(lesson: Path) -> Path:
    return lesson.parent / "solutions" / f"{lesson.stem}.py"


def parse_solutions(text: str, where: str = "solutions") -> dict[int, str]:
    """Exercise number → the code that replaces its marked lines (pure)."""
    marks = list(BLOCK.finditer(text))
    blocks: dict[int, str] = {}
    for mark, following in zip(marks, [*marks[1:], None]):
        number = int(mark.group(1))
        if number in blocks:
            raise SolutionsError(f"{where}: exercise {number} has two blocks; keep one.")
        body = text[mark.end(): following.start() if following else len(text)].strip("\n")
        if not body.strip():
            raise SolutionsError(f"{where}: exercise {number} has an empty block; write its solution under the marker.")
        blocks[number] = body
    return blocks


def exercise_cells(notebook: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells that hold an exercise (a line marked ``# ←``), in order (pure)."""
    return [i for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and any(MARK in line for line in cell.source.splitlines())]


def solved(notebook: nbformat.NotebookNode, blocks: dict[int, str], where: str = "solutions") -> nbformat.NotebookNode:
    """A copy of the lesson with each exercise's marked lines replaced by its solution (pure)."""
    cells = exercise_cells(notebook)
    numbers = set(range(1, len(cells) + 1))
    if set(blocks) != numbers:
        missing, extra = sorted(numbers - set(blocks)), sorted(set(blocks) - numbers)
        raise SolutionsError(
            f"{where} does not match the lesson's {len(cells)} exercises"
            + (f"; no solution for exercise {', '.join(map(str, missing))}" if missing else "")
            + (f"; no exercise {', '.join(map(str, extra))} in the lesson (cells marked {MARK!r}, counted from 1)" if extra else "")
            + "."
        )
    result = copy.deepcopy(notebook)
    for number, index in enumerate(cells, start=1):
        cell = result.cells[index]
        lines, out, placed = cell.source.splitlines(), [], False
        for line in lines:
            if MARK not in line:
                out.append(line)
            elif not placed:  # the mark stays on the block's first line, so the solved cell is still found
                first, *rest = blocks[number].splitlines()
                out.extend([first if MARK in first else f"{first}  {MARK} solution", *rest])
                placed = True
        cell.source = "\n".join(out)
        cell.outputs, cell.execution_count = [], None
    return result


def solved_lesson(lesson: Path) -> nbformat.NotebookNode:
    """The lesson at ``lesson`` with its solutions filled in (reads both files)."""
    path = solutions_path(lesson)
    if not path.is_file():
        raise SolutionsError(f"{lesson.name} has no solutions file: write {path} (one '# %% exercise N' block per exercise).")
    return solved(nbformat.read(lesson, as_version=4), parse_solutions(path.read_text(encoding="utf-8"), str(path)), str(path))


def verdicts(notebook: nbformat.NotebookNode) -> list[str]:
    """The ✓/✗ line each exercise cell printed, in order ('' when a cell printed none) (pure)."""
    found = []
    for index in exercise_cells(notebook):
        text = "".join(o.get("text", "") for o in notebook.cells[index].get("outputs", []) if o.get("output_type") == "stream")
        found.append(next((line for line in text.splitlines() if line.startswith(("✓", "✗"))), ""))
    return found
