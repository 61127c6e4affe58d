"""Exercises stay unsolved in the committed lessons; their solutions, filled in, make every check say ✓."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lessonkit.harness.execute import execute_notebook
from lessonkit.harness.pytest_plugin import MARKER, notebook_requires
from lessonkit.harness.settings import VARIABLES
from lessonkit.harness.solutions import (
    SolutionsError, exercise_cells, parse_solutions, solved, solved_lesson, solutions_path, verdicts,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
DATA_DIR = VARIABLES["data_dir"]
WITH_EXERCISES = [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if exercise_cells(nbformat.read(p, as_version=4))]


def _lesson_param(path: Path) -> object:
    marks = [getattr(pytest.mark, MARKER)] if "postgres" in notebook_requires(str(path)) else []
    return pytest.param(path, id=path.stem, marks=marks)


def test_every_lesson_after_the_quickstart_has_exercises_and_a_solutions_file() -> None:
    assert [p.stem for p in WITH_EXERCISES] == [p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if p.stem[:2] != "00"]
    for lesson in WITH_EXERCISES:
        solved_lesson(lesson)  # raises when a block is missing, extra or empty
    assert {p.stem for p in (NOTEBOOKS / "solutions").glob("*.py")} == {p.stem for p in WITH_EXERCISES}


@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=lambda p: p.stem)
def test_committed_lessons_show_every_exercise_unsolved(lesson: Path) -> None:
    notebook = nbformat.read(lesson, as_version=4)
    for index in exercise_cells(notebook):
        marked = [line for line in notebook.cells[index].source.splitlines() if "# ←" in line]
        assert all(line.split("#")[0].rstrip().endswith("...") for line in marked), f"{lesson.stem} cell {index} is solved: {marked}"
    assert all(v.startswith("✗ not yet: replace the ...") or v.startswith("✗ not yet. Hint:") for v in verdicts(notebook)), verdicts(notebook)


@pytest.mark.parametrize("lesson", [_lesson_param(p) for p in WITH_EXERCISES])
def test_solved_lessons_pass_every_check(lesson: Path, tmp_path: Path) -> None:
    notebook = solved_lesson(lesson)
    # Its databases in tmp_path: nbval may be running the same lesson, on the same files, on another worker (a lesson
    # opening its database fresh=True then refuses, rightly: DatabaseInUseError).
    report = execute_notebook(lesson, {DATA_DIR: str(tmp_path)}, notebook=notebook)
    assert report.ok, report.summary()
    found = verdicts(notebook)
    assert found and all(v.startswith("✓ correct") for v in found), f"{lesson.stem}: {found}"


def test_solutions_must_match_the_exercises_one_to_one() -> None:
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = ...  # ← your answer\nprint(x)"),
        nbformat.v4.new_markdown_cell("a ← in prose is not an exercise"),
        nbformat.v4.new_code_cell("a = ...  # ← one\nb = ...  # ← two\nprint(a + b)"),
    ])
    blocks = parse_solutions("# %% exercise 1\nx = 1\n\n# %% exercise 2\na, b = 1, 2\n")
    cells = solved(notebook, blocks).cells
    assert cells[0].source == "x = 1  # ← solution\nprint(x)"
    assert cells[2].source == "a, b = 1, 2  # ← solution\nprint(a + b)"
    assert "..." in notebook.cells[0].source  # the lesson itself is untouched
    with pytest.raises(SolutionsError, match="no solution for exercise 2"):
        solved(notebook, {1: "x = 1"})
    with pytest.raises(SolutionsError, match="no exercise 3 in the lesson"):
        solved(notebook, {**blocks, 3: "y = 2"})
    with pytest.raises(SolutionsError, match="exercise 1 has an empty block"):
        parse_solutions("# %% exercise 1\n\n# %% exercise 2\nx = 1\n")
    with pytest.raises(SolutionsError, match="has no solutions file"):
        solved_lesson(NOTEBOOKS / "00_quickstart.ipynb")
    assert solutions_path(NOTEBOOKS / "01_persistence_and_threads.ipynb") == NOTEBOOKS / "solutions" / "01_persistence_and_threads.py"
