"""The dashboard in a real JupyterLab in Debian's Chromium: tokens visibly stream, panels fill."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests.browser.harness import JupyterLab, LabPage
from tests.browser.test_harness import SCREENSHOTS, require_browser
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

RECORDING = ROOT / "notebooks" / "recordings" / "00_quickstart.json"
FINAL = "I couldn't find a live reading, but the results describe San Francisco's October weather"


def make_notebook(path: Path) -> Path:
    """A paced replay (speed 1: tokens arrive with their recorded delays) through the dashboard."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Dashboard in the browser\nThe quick-start turn, replayed at recorded speed."),
        nbformat.v4.new_code_cell(
            "import lessonkit\nfrom lessonkit import checkpoints\nfrom lessonkit.panels import Dashboard\n"
            "from langchain_core.messages import HumanMessage\n\nlesson = lessonkit.start('00_quickstart', speed=1)"
        ),
        nbformat.v4.new_code_cell(
            "saver = await checkpoints.async_sqlite_saver('browser.db', fresh=True)\n"
            "agent = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=saver)\n"
            "dash = Dashboard()"
        ),
        nbformat.v4.new_code_cell(
            "report = await dash.run(agent, {'messages': [HumanMessage('What is the weather in sf?')]}, {'configurable': {'thread_id': '1'}})\nreport"
        ),
    ]
    nbformat.write(nb, path)
    return path


def test_dashboard_streams_tokens_and_fills_panels_in_jupyterlab(tmp_path: Path) -> None:
    require_browser()
    notebook = make_notebook(tmp_path / "dashboard_demo.ipynb")
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / RECORDING.name).write_bytes(RECORDING.read_bytes())
    SCREENSHOTS.mkdir(exist_ok=True)
    env = {"LESSONKIT_MODE": "replay", "LESSONKIT_REPLAY_SPEED": "1"}
    with JupyterLab([notebook, recordings], env=env) as lab, LabPage(lab, notebook.name) as page:
        page.run_all()
        answers = page.sample_while_running(".lk-tokens .lk-answer", interval_s=0.03, timeout_s=120)
        page.wait_idle_after_run(timeout_s=120)
        page.scroll_into_view(".lk-dashboard")
        page.screenshot(SCREENSHOTS / "dashboard.png", ".lk-dashboard", element_only=True)
        page.screenshot(SCREENSHOTS / "dashboard_page.png")
        decisions = page.texts(".lk-decision")
        timing_rows = page.texts(".lk-timing-table tr")
        timeline = page.page.eval_on_selector_all(".lk-timings svg.lk-timeline text", "els => els.map(e => e.textContent)")
        status = page.texts(".lk-status-line")

    partial = [a for a in answers if FINAL[:10] in a or a.strip()]
    growing = [a for a in partial if a.strip() and not a.strip().endswith("afternoon.")]
    assert len(set(growing)) >= 4, f"expected the answer to grow in several steps, saw {answers[:8]}"
    lengths = [len(a) for a in partial]
    assert lengths == sorted(lengths), "the shown answer only ever grows"
    assert FINAL in partial[-1] and partial[-1].strip().endswith("clears by the afternoon.")
    assert len(decisions) == 1 and "tavily_search" in decisions[0] and "current weather in San Francisco" in decisions[0]
    assert "done" in decisions[0] and "San Francisco weather in October" in decisions[0]  # the result preview
    assert len(timing_rows) == 4 and re.search(r"model\s+llm", timing_rows[1]) and "tool" in timing_rows[2]
    assert any(t.endswith(" s") for t in timeline)
    assert status and status[0].startswith("done")
