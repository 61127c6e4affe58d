"""``lessonkit new``: a lesson from the template that records, runs and is listed (issue 12, point 4)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lessonkit.errors import LessonkitError
from lessonkit.harness.execute import execute_notebook
from lessonkit.harness.solutions import solved_lesson, verdicts
from lessonkit.harness.new_lesson import lesson_name, with_row
from tests.test_cli import lessonkit


def test_names_are_numbered_after_the_last_lesson_or_refused() -> None:
    assert lesson_name("sharing", ["00_a", "07_b"]) == "08_sharing"
    assert lesson_name("03_x", ["00_a"]) == "03_x"
    with pytest.raises(LessonkitError, match="not a lesson name"):
        lesson_name("Bad Name", [])
    assert with_row("| `00_a` | x |\n\nafter", "01_b") == "| `00_a` | x |\n| `01_b` | TODO: what it teaches |\n\nafter"
    assert with_row("no table", "01_b") is None


def test_new_lesson_records_runs_and_is_listed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "README.md").write_text("| notebook | what |\n| --- | --- |\n| `00_quickstart` | first |\n")
    (tmp_path / "notebooks" / "00_quickstart.ipynb").write_text("{}")
    made = lessonkit("new", "sharing_threads", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    notebook, script = tmp_path / "notebooks" / "01_sharing_threads.ipynb", tmp_path / "notebooks" / "scripts" / "01_sharing_threads.json"
    assert notebook.exists() and script.exists()
    assert "| `01_sharing_threads` | TODO: what it teaches |" in (tmp_path / "README.md").read_text()
    again = lessonkit("new", "sharing_threads", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    recorded = lessonkit("record", str(notebook), "--script", str(script), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert (tmp_path / "notebooks" / "recordings" / "01_sharing_threads.json").exists()
    outputs = ["".join(o.get("text", "")) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any(text.startswith("✗ not yet: replace the ...") for text in outputs)  # the exercise is left for the student
    solved = solved_lesson(notebook)  # and its solutions file solves it
    assert execute_notebook(notebook, {}, notebook=solved).ok
    assert verdicts(solved) == ["✓ correct: one question and one answer: 2 messages"]
    ran = lessonkit("run", str(notebook), cwd=tmp_path)
    assert ran.returncode == 0 and "01_sharing_threads.ipynb: ok, 4 code cells" in ran.stdout
