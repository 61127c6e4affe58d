"""What the committed lessons hold: links that work from notebooks/, and panels as text, not widget state."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from lessonkit.harness.execute import WIDGET_VIEW, without_widget_state

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_relative_links_and_images_resolve_inside_the_notebooks_folder(lesson: Path) -> None:
    notebook = nbformat.read(lesson, as_version=4)
    targets = [m.group(1) for c in notebook.cells if c.cell_type == "markdown" for m in LINK.finditer(c.source)]
    local = [t.split("#")[0] for t in targets if not re.match(r"^(https?:|mailto:|attachment:|#)", t)]
    for target in local:
        resolved = (NOTEBOOKS / target).resolve()
        assert resolved.is_relative_to(NOTEBOOKS), f"{lesson.name} links {target}: outside notebooks/, which JupyterLab started there cannot serve"
        assert resolved.exists(), f"{lesson.name} links {target}, which does not exist"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lessons_are_committed_without_widget_state(lesson: Path) -> None:
    notebook = nbformat.read(lesson, as_version=4)
    assert "widgets" not in notebook.metadata, f"{lesson.name} keeps widget state: save it with `python -m lessonkit run`"
    views = [c.id for c in notebook.cells if c.cell_type == "code" for o in c.outputs if WIDGET_VIEW in o.get("data", {})]
    assert not views, f"{lesson.name}: widget views without state render 'model not found' in JupyterLab (cells {views})"


def test_dropping_widget_state_keeps_each_panels_text() -> None:
    view = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("dash", outputs=[
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: view, "text/plain": "Timings: 2 calls"}),
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: view}),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ])])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}}}
    committed = without_widget_state(notebook)
    assert "widgets" not in committed.metadata and "widgets" in notebook.metadata  # the input is left alone
    assert [o.get("data", o.get("text")) for o in committed.cells[0].outputs] == [{"text/plain": "Timings: 2 calls"}, "done\n"]
