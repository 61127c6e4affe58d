"""The streamed answer in JupyterLab and in Notebook 7 (Debian's Chromium): exact text, grown in steps, whole for late views.

The answer mixes what breaks naive rendering: markup-like text, entities, an emoji (two UTF-16 units,
so delta offsets must count as the browser does), accents, newlines, tabs and runs of spaces. It is
replayed at recorded pace through a dashboard started in the background, so the next cell can open a
second view of the answer's widget mid-stream; after the run the page is saved and reloaded, and the
reloaded views (state asked of the kernel) must hold the whole text as well.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bench.common import long_answer
import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script
from langchain_core.messages import HumanMessage
from tests.browser.harness import FRONT_ENDS, JupyterLab, LabPage, write_notebook
from tests.browser.test_dashboard import IMPORTS
from tests.browser.test_harness import SCREENSHOTS, require_browser

pytestmark = pytest.mark.browser

TRICKY = ["<b>bold?</b>", "&amp;", "x < y && y > z", "😀", "naïve café", "line\nbreak", "tab\there", "two  spaces",
          "<script>alert(1)</script>", "\"double\" 'single'", "trailing \n\n", "<!-- not a comment -->"]
WORDS, INTERVAL_S = 1200, 0.004  # ~5 s of answer at 250 tokens/s: time to see it grow and to open a second view
DASH = ".lk-front .lk-tokens .lk-answer"  # the dashboard's own view of the answer


def tricky_answer(words: int = WORDS) -> str:
    pieces = long_answer(words).split(" ")
    for i in range(0, len(pieces), 37):
        pieces[i] = TRICKY[(i // 37) % len(TRICKY)]
    return " ".join(pieces)


def record(folder: Path, name: str, content: str) -> None:
    script = Script(replies=[Reply(content=content, first_token_s=0.3, chunk_interval_s=INTERVAL_S)], note="front-end test answer")
    lesson = lessonkit.Lesson(name, "record", 0.0, Cassette(folder / f"{name}.json"), script=script)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="bench")
    graph.invoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "rec"}})


def make_notebook(path: Path) -> Path:
    """The dashboard streams in the background; the next cell opens a second view of the answer mid-stream."""
    return write_notebook(path, [
        nbformat.v4.new_markdown_cell("# The streamed answer in this front end"),
        nbformat.v4.new_code_cell(
            "import asyncio\n" + IMPORTS + "lesson = lessonkit.start('tricky', speed=1)\n"
            "agent = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system='bench')\n"
            "dash = Dashboard()\ndash.widget.add_class('lk-front')\n"
            "task = dash.start(agent, {'messages': [HumanMessage('go')]}, {'configurable': {'thread_id': 'front'}})"
        ),
        nbformat.v4.new_markdown_cell("A second view of the token panel's widget, opened while it streams."),
        nbformat.v4.new_code_cell("await dash.wait_for('token')\nawait asyncio.sleep(1.0)\ndisplay(dash.tokens.view)"),
        nbformat.v4.new_code_cell("report = await dash.wait()\nprint(report.status, len(next(iter(dash.tokens.calls.values())).answer))"),
    ])


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_the_streamed_answer_renders_exactly_and_grows_in_steps(tmp_path: Path, front_end: str) -> None:
    require_browser()
    expected = tricky_answer()
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    record(recordings, "tricky", expected)
    notebook = make_notebook(tmp_path / "front_end.ipynb")
    SCREENSHOTS.mkdir(exist_ok=True)
    env = {"LESSONKIT_MODE": "replay", "LESSONKIT_REPLAY_SPEED": "1"}
    with JupyterLab([notebook, recordings], env=env, front_end=front_end) as lab, LabPage(lab, notebook.name) as page:
        page.run_all()
        seen = page.sample_while_running(DASH, interval_s=0.05, timeout_s=120, prop="textContent")
        page.wait_idle_after_run(timeout_s=120)
        shown = page.texts(".lk-answer", prop="textContent")  # the dashboard's view, then the second view
        children = page.page.eval_on_selector_all(".lk-answer", "els => els.map(e => e.childElementCount)")
        page.screenshot(SCREENSHOTS / f"answer_{front_end}.png", DASH)
        page.save_and_reload()
        page.page.wait_for_function("() => document.querySelectorAll('.lk-answer').length >= 2", timeout=60_000)
        reloaded = page.texts(".lk-answer", prop="textContent")
        info = f"{front_end}: console {page.console[-8:]}; log {lab.log_path}"

    growing = [text for text in seen if text != expected]
    assert len(growing) >= 4, f"the answer should grow in several steps, saw {len(seen)} values; {info}"
    assert all(expected.startswith(text) for text in seen), f"every value shown is a prefix of the answer, char for char; {info}"
    assert [len(text) for text in seen] == sorted(len(text) for text in seen), info
    assert seen[-1] == expected, info
    assert shown == [expected, expected], f"both views hold the whole text, char for char; {info}"
    assert children == [0, 0], "text, not markup: no element was made from the answer's <b> or <script>"
    assert reloaded == [expected, expected], f"a reloaded page gets the whole text from the kernel; {info}"
