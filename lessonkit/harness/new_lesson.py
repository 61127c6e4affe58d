"""``lessonkit new NAME``: a new numbered lesson that runs and records out of the box.

It writes four things, refusing to overwrite any of them:

- ``notebooks/NN_name.ipynb``: the start cell, a setup cell, a story skeleton (explanation, a cell that
  shows it, what to notice), an exercise left unsolved with its check, and a recap;
- ``notebooks/scripts/NN_name.json``: the authored answer the skeleton asks for, so
  ``lessonkit record notebooks/NN_name.ipynb --script notebooks/scripts/NN_name.json`` works at once;
- ``notebooks/solutions/NN_name.py``: the exercise's solution (CI fills it in and expects ✓);
- a row in the README's lessons table (the README test requires every lesson listed there).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from ..errors import LessonkitError
from ..support.files import atomic_write_text
from .solutions import solutions_path

NAME = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)$")
QUESTION = "What is the weather in sf?"
ANSWER = "Replace this with the answer your lesson needs (or record it live)."
ROW = re.compile(r"^\| `(\d\d_\w+)` \|.*$", re.M)


def lesson_name(requested: str, existing: list[str]) -> str:
    """``NN_name`` as given, or ``name`` numbered after the last lesson; a LessonkitError saying the rule otherwise."""
    if NAME.match(requested):
        return requested
    if re.fullmatch(r"[a-z][a-z0-9_]*", requested):
        numbers = [int(n[:2]) for n in existing if NAME.match(n)]
        return f"{(max(numbers) + 1 if numbers else 0):02d}_{requested}"
    raise LessonkitError(f"{requested!r} is not a lesson name: use lower-case letters, digits and _ (e.g. "
                         "'sharing_threads'), optionally after a two-digit number ('08_sharing_threads').")


def _md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def _code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text)


def template(name: str) -> nbformat.NotebookNode:
    """The skeleton notebook (pure): what every lesson has, in the order the lessons use."""
    number, words = NAME.match(name).groups()  # type: ignore[union-attr]
    title = words.replace("_", " ").capitalize()
    cells = [
        _md(f"# {number} · {title}\n\nTwo sentences: what this lesson shows, and why a student needs it."),
        _code(f'import lessonkit\n\nlesson = lessonkit.start("{name}")'),
        _md("## Setup\n\nThe lesson agent on its own SQLite file, started fresh so every run begins the same."),
        _code(f'from lessonkit import checkpoints\n\nsaver = checkpoints.sqlite_saver("{name}.db", fresh=True)\n'
              "agent = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=saver)\n"
              'thread = {"configurable": {"thread_id": "1"}}'),
        _md("## The idea\n\nA short explanation of one idea, then a cell that shows it."),
        _code(f'result = agent.invoke({{"messages": [("user", "{QUESTION}")]}}, thread)\n'
              'print(result["messages"][-1].content)'),
        _md("**Notice:** what to look at in the output above, and why it matters."),
        _md("## Exercise\n\n**1.** How many messages does thread 1 hold now? Compute it from the saved state."),
        _code("answer = ...  # ← your expression: how many messages thread 1 holds\n\n"
              'with lessonkit.exercise(answer, hint="read agent.get_state(thread).values[\'messages\'] and count them") as check:\n'
              '    check(answer == 2, "one question and one answer: 2 messages")'),
        _md("## Recap\n\n- One line per idea the lesson taught."),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


SOLUTION = '# %% exercise 1\nanswer = len(agent.get_state(thread).values["messages"])\n'


def script(name: str) -> dict[str, object]:
    return {"note": f"lessonkit script for {name}", "chat": [{"note": "written by hand", "content": ANSWER}], "search": []}


def with_row(readme: str, name: str) -> str | None:
    """The README with a row for ``name`` after the last lesson row; None when it has no lessons table (pure)."""
    rows = list(ROW.finditer(readme))
    if not rows:
        return None
    end = rows[-1].end()
    return readme[:end] + f"\n| `{name}` | TODO: what it teaches |" + readme[end:]


def create(folder: Path, requested: str, readme: Path | None = None) -> list[Path]:
    """Write the lesson, its script and its README row; the paths written. Refuses to overwrite anything."""
    name = lesson_name(requested, sorted(p.stem for p in folder.glob("[0-9][0-9]_*.ipynb")))
    notebook, script_path = folder / f"{name}.ipynb", folder / "scripts" / f"{name}.json"
    solution_path = solutions_path(notebook)
    taken = [str(p) for p in (notebook, script_path, solution_path) if p.exists()]
    taken += [p.name for p in folder.glob(f"{name[:2]}_*.ipynb")]  # one lesson per number
    taken += [p.name for p in folder.glob(f"[0-9][0-9]_{name[3:]}.ipynb")]  # and per name
    if taken:
        raise LessonkitError(f"not creating lesson {name}: {', '.join(sorted(set(taken)))} already exists. Pick another name or number.")
    for path in (script_path, solution_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(notebook, nbformat.writes(template(name)) + "\n")
    atomic_write_text(script_path, json.dumps(script(name), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(solution_path, f'"""Solutions to {name}: each block replaces the line(s) marked ← in that exercise\'s cell."""\n\n{SOLUTION}')
    written = [notebook, script_path, solution_path]
    if readme is not None and readme.exists():
        updated = with_row(readme.read_text(encoding="utf-8"), name)
        if updated is not None:
            atomic_write_text(readme, updated)
            written.append(readme)
    return written
