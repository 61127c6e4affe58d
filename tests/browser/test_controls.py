"""The dashboard's controls in a real JupyterLab: Approve, Reject (with a reason), bad JSON in Edit, fork from here.

The notebook replays lesson 05's recording (speed 0), so every model answer a click needs is recorded:
the San Francisco search approved, the Los Angeles search rejected with the lesson's reason, and the
fork that asks "Should I bring a jacket?" instead. The clicks happen after Run All, with the kernel
idle: each one starts a background run, and the test reads the panels as they follow it.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.browser.harness import JupyterLab, LabPage, write_notebook
from tests.browser.test_harness import SCREENSHOTS, require_browser
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

RECORDING = ROOT / "notebooks" / "recordings" / "05_interrupts_and_time_travel.json"
APPROVE = ".lk-approve-demo"  # paused at the San Francisco search: the test edits badly, then approves
REJECT = ".lk-reject-demo"  # paused at the Los Angeles search: the test rejects with a reason, then forks
REASON = "No more searches, please: answer from what you already know."
FORKED = "Should I bring a jacket?"


SETUP = """import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from langchain_core.messages import HumanMessage

lesson = lessonkit.start('05_interrupts_and_time_travel', speed=0)
agent = lessonkit.build_agent(lesson.chat_model('gpt-4o'), [lesson.search_tool(max_results=2)],
                              checkpointer=checkpoints.memory_saver(), approve_tools=True)
sf = {'messages': [HumanMessage('What is the weather in sf?')]}"""
PAUSED_AT_SF = """dash = Dashboard()
dash.widget.add_class('lk-approve-demo')
await dash.run(agent, sf, {'configurable': {'thread_id': 'approve'}})"""
PAUSED_AT_LA = """other = Dashboard()
other.widget.add_class('lk-reject-demo')
la_thread = {'configurable': {'thread_id': 'reject'}}
await other.run(agent, sf, la_thread)
await other.approve()
await other.run(agent, {'messages': [HumanMessage('What about in la?')]}, la_thread)"""


def lab_files(tmp_path: Path) -> list[Path]:
    """The notebook (set up, then two dashboards paused at a review) and lesson 05's recording beside it."""
    title = nbformat.v4.new_markdown_cell("# Approve, reject, fork\nLesson 05's approval agent, with the dashboard's buttons.")
    cells = [title, *(nbformat.v4.new_code_cell(code) for code in (SETUP, PAUSED_AT_SF, PAUSED_AT_LA))]
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / RECORDING.name).write_bytes(RECORDING.read_bytes())
    return [write_notebook(tmp_path / "controls_demo.ipynb", cells), recordings]


def wait_text(page: LabPage, selector: str, needle: str, timeout_s: float = 60) -> None:
    """Until some element matching ``selector`` shows ``needle`` (the panels follow a background run)."""
    page.page.wait_for_function(
        "([sel, needle]) => Array.from(document.querySelectorAll(sel)).some(e => e.textContent.includes(needle))",
        arg=[selector, needle], timeout=timeout_s * 1000)


def button(page: LabPage, scope: str, text: str) -> object:
    """The newest such button in ``scope`` (an answered review keeps its buttons, disabled, above the new one)."""
    return page.page.locator(f"{scope} button.widget-button", has_text=text).last


def test_approve_reject_and_fork_by_clicking(tmp_path: Path) -> None:
    require_browser()
    files = lab_files(tmp_path)
    SCREENSHOTS.mkdir(exist_ok=True)
    with JupyterLab(files, env={"LESSONKIT_MODE": "replay"}) as lab, LabPage(lab, files[0].name) as page:
        page.run_all()
        page.wait_idle_after_run(timeout_s=180)
        paused = {"status": page.texts(f"{APPROVE} .lk-status-line"), "question": page.texts(f"{APPROVE} .lk-approval .lk-question")}

        # Edit arguments with broken JSON: a message next to the box, nothing sent.
        page.scroll_into_view(f"{APPROVE} .lk-approval")
        button(page, APPROVE, "Edit arguments").click()
        page.page.fill(f"{APPROVE} .lk-edit-args textarea", '{"query": ')
        button(page, APPROVE, "Run with these arguments").click()
        wait_text(page, f"{APPROVE} .lk-control-message", "not valid JSON", 20)
        bad_json = {"message": page.texts(f"{APPROVE} .lk-control-message"), "status": page.texts(f"{APPROVE} .lk-status-line")}
        page.screenshot(SCREENSHOTS / "controls_paused.png", f"{APPROVE} .lk-tool-decisions", element_only=True)

        button(page, APPROVE, "Approve").click()
        wait_text(page, f"{APPROVE} .lk-status-line", "done")
        wait_text(page, f"{APPROVE} .lk-answer", "I couldn't find a live reading")
        approved = {
            "decisions": page.texts(f"{APPROVE} .lk-decision"), "outcome": page.texts(f"{APPROVE} .lk-outcome"),
            "disabled": page.page.eval_on_selector_all(f"{APPROVE} .lk-approval button", "bs => bs.map(b => b.disabled)"),
        }
        page.screenshot(SCREENSHOTS / "controls_approved.png", f"{APPROVE} .lk-tool-decisions", element_only=True)

        page.page.locator(f"{REJECT} .lk-approval").last.scroll_into_view_if_needed()
        page.page.locator(f"{REJECT} .lk-approval input[type=text]").last.fill(REASON)
        button(page, REJECT, "Reject").click()
        wait_text(page, f"{REJECT} .lk-status-line", "done")
        wait_text(page, f"{REJECT} .lk-answer", "Understood, no more searches")
        rejected = {"decisions": page.texts(f"{REJECT} .lk-decision"), "outcome": page.texts(f"{REJECT} .lk-outcome")}
        page.screenshot(SCREENSHOTS / "controls_rejected.png", f"{REJECT} .lk-tool-decisions", element_only=True)

        page.page.locator(REJECT).get_by_text("Thread history (checkpoints)").click()
        choice = page.page.eval_on_selector(
            f"{REJECT} .lk-time-travel select",
            "s => Array.from(s.options).map(o => o.value).find(t => t.includes('human: What about in la?'))")  # text has nbsp
        page.page.select_option(f"{REJECT} .lk-time-travel select", value=choice)
        page.page.wait_for_function(
            "sel => document.querySelector(sel)?.value === 'What about in la?'", arg=f"{REJECT} .lk-time-travel input[type=text]", timeout=10_000)
        page.page.fill(f"{REJECT} .lk-time-travel input[type=text]", FORKED)
        button(page, REJECT, "fork from here").click()
        wait_text(page, f"{REJECT} .lk-status-line", "done")
        wait_text(page, f"{REJECT} .lk-answer", "Yes, bring a light jacket")
        wait_text(page, f"{REJECT} .lk-steps", FORKED)
        page.page.click(f"{REJECT} .lk-steps details:last-of-type summary")
        forked = {"headline": page.texts(f"{REJECT} .lk-thread .widget-html"), "steps": page.texts(f"{REJECT} .lk-steps summary"),
                  "labels": page.texts(f"{REJECT} .lk-run-label")}
        page.screenshot(SCREENSHOTS / "controls_forked.png", f"{REJECT} .lk-history", element_only=True)
        errors = [line for line in page.console if line.startswith("pageerror")]

    assert paused["status"] and paused["status"][0].startswith("interrupted"), paused
    assert paused["question"] and "Run these tool calls?" in paused["question"][0] and "tavily_search" in paused["question"][0], paused
    assert bad_json["message"] and "not valid JSON" in bad_json["message"][0], bad_json
    assert bad_json["status"][0].startswith("interrupted"), bad_json  # nothing was sent
    assert any("done" in d and "San Francisco weather in October" in d for d in approved["decisions"]), approved
    assert approved["outcome"] and approved["outcome"][0].startswith("✓ approved: resumed as run 2"), approved
    assert approved["disabled"] and all(approved["disabled"]), approved  # answered: no second resume
    assert rejected["outcome"] and rejected["outcome"][-1].startswith("✗ rejected"), rejected
    assert any("· rejected" in d and "The user rejected this tool call" in d for d in rejected["decisions"]), rejected
    assert any("(+" in h and "other branches" in h for h in forked["headline"]), forked
    assert any(step.startswith("step") and "update_state" in step for step in forked["steps"]), forked
    assert any("fork at step" in label for label in forked["labels"]), forked
    assert not errors, errors
