"""The dashboard in a real JupyterLab in Debian's Chromium: tokens visibly stream, panels fill, Stop stops."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from bench.common import long_answer, record_answer
from tests.browser.harness import JupyterLab, LabPage, write_notebook
from tests.browser.test_harness import SCREENSHOTS, require_browser
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

RECORDING = ROOT / "notebooks" / "recordings" / "00_quickstart.json"
LONG_TOKENS, LONG_SYSTEM = 1500, "bench"
FIRST = ".lk-dashboard:not(.lk-long):not(.lk-stop)"  # the quick-start turn's dashboard
STOP = ".lk-stop"  # a slow answer started in the background, for the Stop button
SLOW_TOKENS, SLOW_INTERVAL_S = 400, 0.05  # twenty seconds of answer: time to click Stop
FINAL = "I couldn't find a live reading, but the results describe San Francisco's October weather"


IMPORTS = "import lessonkit\nfrom lessonkit import checkpoints\nfrom lessonkit.panels import Dashboard\nfrom langchain_core.messages import HumanMessage\n\n"


def make_notebook(path: Path) -> Path:
    """A paced replay (speed 1: tokens arrive with their recorded delays) through the dashboard."""
    return write_notebook(path, [
        nbformat.v4.new_markdown_cell("# Dashboard in the browser\nThe quick-start turn, replayed at recorded speed."),
        nbformat.v4.new_code_cell(IMPORTS + "lesson = lessonkit.start('00_quickstart', speed=1)"),
        nbformat.v4.new_code_cell(
            "saver = await checkpoints.async_sqlite_saver('browser.db', fresh=True)\n"
            "agent = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=saver)\n"
            "dash = Dashboard()"
        ),
        nbformat.v4.new_code_cell(
            "report = await dash.run(agent, {'messages': [HumanMessage('What is the weather in sf?')]}, {'configurable': {'thread_id': '1'}})\nreport"
        ),
        nbformat.v4.new_markdown_cell("A long answer (1,500 tokens at 1,000 a second), streamed as deltas into one widget."),
        nbformat.v4.new_code_cell(
            f"long = lessonkit.start('long', speed=1)\n"
            f"long_agent = lessonkit.build_agent(long.chat_model(), [], checkpointer=checkpoints.memory_saver(), system={LONG_SYSTEM!r})\n"
            "long_dash = Dashboard()\nlong_dash.widget.add_class('lk-long')\n"
            "await long_dash.run(long_agent, {'messages': [HumanMessage('go')]}, {'configurable': {'thread_id': 'long'}})"
        ),
        nbformat.v4.new_markdown_cell("A slow answer in the background: the test clicks Stop while it streams."),
        nbformat.v4.new_code_cell(
            "slow = lessonkit.start('slow', speed=1)\n"
            f"slow_agent = lessonkit.build_agent(slow.chat_model(), [], checkpointer=checkpoints.memory_saver(), system={LONG_SYSTEM!r})\n"
            "stop_dash = Dashboard()\nstop_dash.widget.add_class('lk-stop')\n"
            "task = stop_dash.start(slow_agent, {'messages': [HumanMessage('go')]}, {'configurable': {'thread_id': 'stop'}})"
        ),
    ])


REPLAY_AT_PACE = {"LESSONKIT_MODE": "replay", "LESSONKIT_REPLAY_SPEED": "1"}  # the kernel's settings: tokens arrive as recorded


def quickstart_recordings(tmp_path: Path) -> Path:
    """A recordings folder holding the quick-start turn (and the screenshots folder, for people)."""
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / RECORDING.name).write_bytes(RECORDING.read_bytes())
    SCREENSHOTS.mkdir(exist_ok=True)
    return recordings


def test_dashboard_streams_tokens_and_fills_panels_in_jupyterlab(tmp_path: Path) -> None:
    require_browser()
    notebook = make_notebook(tmp_path / "dashboard_demo.ipynb")
    recordings = quickstart_recordings(tmp_path)
    record_answer(tmp_path, "long", LONG_TOKENS, interval_s=0.001)  # written by hand (authored), timing synthesized
    (tmp_path / "long.json").rename(recordings / "long.json")
    record_answer(tmp_path, "slow", SLOW_TOKENS, interval_s=SLOW_INTERVAL_S)
    (tmp_path / "slow.json").rename(recordings / "slow.json")
    with JupyterLab([notebook, recordings], env=REPLAY_AT_PACE) as lab, LabPage(lab, notebook.name) as page:
        page.run_all()
        answers = page.sample_while_running(FIRST + " .lk-tokens .lk-answer", interval_s=0.03, timeout_s=120)
        page.wait_idle_after_run(timeout_s=120)
        page.scroll_into_view(FIRST)
        page.screenshot(SCREENSHOTS / "dashboard.png", FIRST, element_only=True)
        page.screenshot(SCREENSHOTS / "dashboard_page.png")
        decisions = page.texts(FIRST + " .lk-decision")
        timing_rows = page.texts(FIRST + " .lk-timing-table tr")
        timeline = page.page.eval_on_selector_all(FIRST + " .lk-timings svg.lk-timeline text", "els => els.map(e => e.textContent)")
        edges = page.page.eval_on_selector(FIRST + " .lk-timings", TIMELINE_EDGES)
        status = page.texts(FIRST + " .lk-status-line")
        long_answer_shown = page.texts(".lk-long .lk-answer")
        long_elements = page.page.eval_on_selector_all(".lk-long .lk-answer", "els => els.map(e => e.childElementCount)")
        page.page.locator(FIRST).get_by_text("Thread history (checkpoints)").click()
        page.page.click(FIRST + " .lk-steps details:last-of-type summary")
        page.screenshot(SCREENSHOTS / "thread_history.png", FIRST + " .lk-thread", element_only=True)
        steps = page.texts(FIRST + " .lk-steps summary")
        opened = page.texts(FIRST + " .lk-steps details[open] .lk-pre")
        stopped = click_stop(page)

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
    assert long_answer_shown == [long_answer(LONG_TOKENS)], "every delta shown, in order, nothing lost or doubled"
    assert long_elements == [0], "one widget, its text one text node (no segments, no markup)"
    assert steps and steps[0].startswith("step -1 · input") and steps[-1].endswith("→ end")
    assert opened and opened[-1].startswith("+ ai: I couldn't find a live reading")
    last_tick, svg_right, panel_right = edges
    assert last_tick <= svg_right + 0.5 and last_tick <= panel_right, f"the timeline's last label is cut off: {edges}"
    assert stopped["status"].startswith("stopped: the last checkpoint is kept"), stopped
    assert stopped["heads"] and stopped["heads"][0].endswith("· stopped"), stopped  # the call card, not "streaming…"
    assert stopped["bar"] == ["stopped", 1], stopped  # the steps bar: its word, and its warning colour
    assert stopped["stop_disabled"] and 0 < stopped["shown"] < len(long_answer(SLOW_TOKENS)), stopped
    assert any(row.endswith("stopped") for row in stopped["timing_rows"]), stopped


TIMELINE_EDGES = """panel => {
  const right = e => e.getBoundingClientRect().right;
  const svg = panel.querySelector('svg.lk-timeline');
  const ticks = svg.querySelectorAll('text.tick');
  return [right(ticks[ticks.length - 1]), right(svg), right(panel)];
}"""


def click_stop(page: LabPage) -> dict[str, object]:
    """Wait for the slow answer to show, click Stop (the kernel is idle: the run is a background task), read the panels."""
    page.page.wait_for_function(f"() => (document.querySelector('{STOP} .lk-answer')?.innerText || '').trim().length > 0", timeout=60_000)
    page.scroll_into_view(STOP)
    page.page.click(f"{STOP} button.widget-button")
    page.page.wait_for_function(f"() => (document.querySelector('{STOP} .lk-status-line')?.innerText || '').startsWith('stopped')", timeout=30_000)
    page.page.wait_for_function(f"() => (document.querySelector('{STOP} .lk-tokens .lk-head')?.innerText || '').includes('stopped')", timeout=30_000)
    page.screenshot(SCREENSHOTS / "dashboard_stopped.png", STOP, element_only=True)
    bar = page.page.eval_on_selector(
        f"{STOP} .widget-hprogress", "e => [e.querySelector('.widget-label')?.innerText, e.querySelectorAll('.progress-bar-warning').length]")
    return {
        "status": page.texts(f"{STOP} .lk-status-line")[0], "heads": page.texts(f"{STOP} .lk-tokens .lk-head"), "bar": bar,
        "stop_disabled": page.page.eval_on_selector(f"{STOP} button.widget-button", "b => b.disabled"),
        "shown": len("".join(page.texts(f"{STOP} .lk-answer")).strip()), "timing_rows": page.texts(f"{STOP} .lk-timing-table tr"),
    }
