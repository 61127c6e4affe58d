"""The graph panel in a real JupyterLab (Debian's Chromium): the running node lights up as the turn streams.

The picture is drawn once; the browser applies the marks (node classes, visit counts, the edges taken,
the caption) that follow the run, so what is sampled here is the live DOM the student sees.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.browser.harness import JupyterLab, LabPage, write_notebook
from tests.browser.test_dashboard import IMPORTS, REPLAY_AT_PACE, quickstart_recordings
from tests.browser.test_harness import SCREENSHOTS, require_browser

pytestmark = pytest.mark.browser

GRAPH = ".lk-dashboard .lk-graph"


def make_notebook(path: Path) -> Path:
    """The quick-start turn at recorded pace, through a dashboard with the graph panel on."""
    turn = ("lesson = lessonkit.start('00_quickstart', speed=1)\n"
            "agent = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())\n"
            "await Dashboard(graph=True).run(agent, {'messages': [HumanMessage('What is the weather in sf?')]}, "
            "{'configurable': {'thread_id': '1'}})")
    return write_notebook(path, [nbformat.v4.new_markdown_cell("# The graph, lit as the turn runs"), nbformat.v4.new_code_cell(IMPORTS + turn)])


def test_the_running_node_is_lit_while_the_turn_streams(tmp_path: Path) -> None:
    require_browser()
    notebook = make_notebook(tmp_path / "graph_view.ipynb")
    recordings = quickstart_recordings(tmp_path)
    with JupyterLab([notebook, recordings], env=REPLAY_AT_PACE) as lab, LabPage(lab, notebook.name) as page:
        page.run_all()
        lit = page.sample_while_running(f"{GRAPH} .lk-node.running .lk-label", interval_s=0.03, timeout_s=120, prop="textContent")
        page.wait_idle_after_run(timeout_s=120)
        classes = dict(page.page.eval_on_selector_all(
            f"{GRAPH} [data-node]", "els => els.map(e => [e.getAttribute('data-node'), e.getAttribute('class')])"))
        taken = page.texts(f"{GRAPH} .lk-edge.taken", prop="outerHTML")
        visits = page.texts(f"{GRAPH} [data-node='llm'] [data-visits]", prop="textContent")
        caption = page.texts(f"{GRAPH} [data-caption]", prop="textContent")
        page.screenshot(SCREENSHOTS / "graph_view.png", GRAPH)
        info = f"console {page.console[-8:]}; log {lab.log_path}"

    assert "llm" in lit and "action" in lit, f"the running node is lit as the turn moves, saw {lit}; {info}"
    assert classes == {"__start__": "lk-node done", "llm": "lk-node done", "action": "lk-node done", "__end__": "lk-node done"}, info
    assert len(taken) == 4 and visits == ["×2"] and caption == ["done"], info
