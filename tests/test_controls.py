"""The dashboard's controls: what each button means (pure decisions), and the runs they start.

Approve / Reject / Edit arguments answer the approval agent's pause; replay / fork go back to a
checkpoint. The runs use a scripted model (record mode, replies in order) and an in-memory saver.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

import lessonkit
from lessonkit import checkpoints
from lessonkit.agent import REJECTED_TOOL_CALL, review_request
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall
from lessonkit.panels import Dashboard
from lessonkit.panels.controls import (
    ApprovalControls, ArgsError, StepActions, args_text, checkpoint_choices, checkpoint_config, decided_text, edited_tool_calls,
    fork_question, parse_args_text, pending_review, resume_value, step_actions, thread_config,
)
from lessonkit.panels.thread import StepView
from lessonkit.stream.events import InterruptRaised, RunEnd, RunStart

RAN: list[str] = []
CONFIG = {"configurable": {"thread_id": "t"}}
CALL = {"name": "lookup", "args": {"query": "sf"}, "id": "call_sf"}
TWO = [CALL, {"name": "lookup", "args": {"query": "la"}, "id": "call_la"}]


@tool
def lookup(query: str) -> str:
    """Look something up."""
    RAN.append(query)
    return f"found {query}"


def events(status: str, value: Any) -> list[Any]:
    return [RunStart(t=0, run_id="r", thread_id="t", source="astream"), InterruptRaised(t=1, value=value), RunEnd(t=2, run_id="r", status=status)]


def test_only_a_run_paused_at_a_review_gets_approval_buttons() -> None:
    review = review_request([CALL])
    assert pending_review(events("interrupted", review)) == review
    assert pending_review(events("done", review)) is None  # answered in the same run: nothing waits
    assert pending_review(events("interrupted", "what now?")) is None  # another graph's interrupt: no tool calls to approve
    assert pending_review(events("interrupted", {"tool_calls": []})) is None
    assert pending_review([]) is None


def test_what_each_button_resumes_with() -> None:
    assert resume_value("approve") == "approve" and resume_value("edit") == "approve"
    assert resume_value("reject") == "reject" and resume_value("reject", "  ") == "reject"
    assert resume_value("reject", " too slow ") == "too slow"  # the agent passes a reason on to the model
    with pytest.raises(ValueError):
        resume_value("maybe")
    assert decided_text("approve", "approve", 2) == "✓ approved: resumed as run 2"
    assert decided_text("reject", "too slow", 3) == '✗ rejected ("too slow"): resumed as run 3'
    assert decided_text("reject", "reject", 3) == "✗ rejected: resumed as run 3"


def test_edited_arguments_are_checked_before_anything_is_sent() -> None:
    assert args_text([CALL]) == '{\n  "query": "sf"\n}'
    assert parse_args_text(args_text([CALL]), [CALL]) == [{"query": "sf"}]
    assert parse_args_text(args_text(TWO), TWO) == [{"query": "sf"}, {"query": "la"}]
    with pytest.raises(ArgsError, match=r"not valid JSON: .*line 1, column .*nothing was sent"):
        parse_args_text('{"query": "sf"', [CALL])
    with pytest.raises(ArgsError, match="must be a JSON object"):
        parse_args_text('"sf"', [CALL])
    with pytest.raises(ArgsError, match="a JSON list of 2 objects"):
        parse_args_text('{"query": "sf"}', TWO)
    with pytest.raises(ArgsError, match="call 2's arguments must be a JSON object"):
        parse_args_text('[{"query": "sf"}, 3]', TWO)
    assert edited_tool_calls(TWO, [{"query": "a"}, {"query": "b"}]) == [dict(CALL, args={"query": "a"}), dict(TWO[1], args={"query": "b"})]


def test_bad_json_in_the_edit_box_shows_a_message_and_sends_nothing() -> None:
    sent: list[tuple[str, Any]] = []
    controls = ApprovalControls(review_request([CALL]), lambda action, detail: sent.append((action, detail)))
    controls.edit.click()
    assert controls.editor.layout.display is None  # the box opened
    controls.args.value = '{"query": '
    controls.run_edited.click()
    assert sent == [] and "not valid JSON" in controls.message.value
    controls.args.value = '{"query": "weather in sf"}'
    controls.run_edited.click()
    assert sent == [("edit", [{"query": "weather in sf"}])] and controls.message.value == ""
    controls.reason.value = "no"
    controls.reject.click()
    assert sent[-1] == ("reject", "no")
    controls.answer("✗ rejected")
    assert all(b.disabled for b in controls.buttons) and controls.reason.disabled
    controls.set_busy(False)  # answered stays answered: no second resume
    assert all(b.disabled for b in controls.buttons)


def view(step: int, source: str, nxt: tuple[str, ...], last: Any) -> StepView:
    return StepView(f"c{step}", step, source, (), (), nxt, (), last)


def test_which_checkpoints_offer_replay_and_fork() -> None:
    asked = view(0, "loop", ("llm",), HumanMessage("What is the weather in sf?", id="h1"))
    waiting = view(1, "loop", ("review",), AIMessage("", tool_calls=[CALL], id="a1"))
    ended = view(4, "loop", (), AIMessage("It is sunny.", id="a2"))
    started = view(-1, "input", ("__start__",), None)
    assert step_actions(asked) == StepActions(replay=True, fork=True)
    assert step_actions(waiting) == StepActions(replay=True, fork=False)
    assert not step_actions(ended) and not step_actions(started)
    assert checkpoint_choices([started, asked, waiting, ended]) == [
        ('step 1 → review · ai: asks for lookup({"query": "sf"})', "c1"), ("step 0 → llm · human: What is the weather in sf?", "c0")]
    assert fork_question(asked) == "What is the weather in sf?" and fork_question(waiting) == ""


def test_configs_for_the_thread_and_for_one_checkpoint() -> None:
    at = checkpoint_config({"configurable": {"thread_id": "t", "checkpoint_id": "old"}, "tags": ["x"]}, "c7")
    assert at == {"configurable": {"thread_id": "t", "checkpoint_id": "c7"}, "tags": ["x"]}
    assert thread_config(at) == {"configurable": {"thread_id": "t"}, "tags": ["x"]}


def scripted(tmp_path: Path) -> Any:
    replies = [
        Reply(tool_calls=(ScriptedCall("lookup", {"query": "sf"}, "call_sf"),)), Reply(content="Found sf."),
        Reply(tool_calls=(ScriptedCall("lookup", {"query": "la"}, "call_la"),)), Reply(content="I did not look la up."),
        Reply(tool_calls=(ScriptedCall("lookup", {"query": "ny"}, "call_ny"),)), Reply(content="Found the edited one."),
        Reply(content="Bring a jacket."),
    ]
    lesson = lessonkit.Lesson("c", "record", 0.0, Cassette(tmp_path / "c.json"), script=Script(replies=replies, note="controls test"))
    return lessonkit.build_agent(lesson.chat_model(), [lookup], checkpointer=checkpoints.memory_saver(), approve_tools=True)


def test_approve_reject_edit_and_fork_from_the_dashboard(tmp_path: Path) -> None:
    RAN.clear()

    async def go() -> dict[str, Any]:
        graph, dash, out = scripted(tmp_path), Dashboard(), {}
        with pytest.raises(RuntimeError, match="nothing is waiting"):
            dash.approve()
        first = await dash.run(graph, {"messages": [HumanMessage("look up sf")]}, CONFIG)
        out["first"], out["pending"], out["first_tools"] = first.status, dash.pending, first.decisions
        first_controls = dash.approval
        out["in_tools_panel"] = first_controls.widget in dash.tools.cards.children
        task = first_controls.approve.click() or dash.task  # the button starts a background run
        out["disabled_while_running"] = all(b.disabled for b in first_controls.buttons) and dash.time_travel.replay.disabled
        with pytest.raises(RuntimeError):
            dash.reject()  # the review was answered: no second resume
        out["approved"] = (await task).status
        out["outcome"] = first_controls.outcome.value
        await dash.run(graph, {"messages": [HumanMessage("now la")]}, CONFIG)
        dash.approval.reason.value = "not needed"
        dash.approval.reject.click()
        out["rejected"] = str(await dash.wait())
        await dash.run(graph, {"messages": [HumanMessage("now ny")]}, CONFIG)
        out["edited"] = str(await dash.edit({"query": "new york"}))
        out["thread"] = dash.thread.text()
        asked = next(v for v in dash.thread.steps if v.last_message is not None and v.last_message.content == "now ny")
        out["choices"] = [label for label, _ in dash.time_travel.checkpoint.options]
        dash.time_travel.checkpoint.value = asked.checkpoint_id
        out["question"] = dash.time_travel.question.value
        dash.time_travel.question.value = "Should I bring a jacket?"
        dash.time_travel.fork.click()
        out["forked"] = str(await dash.wait())
        out["after_fork"] = dash.thread.text()
        out["labels"] = list(dash.labels)
        out["messages"] = (await graph.aget_state(CONFIG)).values["messages"]
        return out

    out = asyncio.run(go())
    assert out["first"] == "interrupted" and out["pending"]["tool_calls"] == [CALL] and out["in_tools_panel"]
    assert out["disabled_while_running"] and out["approved"] == "done" and "✓ approved: resumed as run 2" in out["outcome"]
    assert RAN == ["sf", "new york"]  # the rejected call never ran; the edited one ran with the new arguments
    assert re.search(r"lookup \{\"query\": \"la\"\} ← llm step \d+ · rejected\n", out["rejected"]) and "Reason: not needed" in out["rejected"] and "I did not look la up." in out["rejected"]
    assert out["first_tools"] == '1. lookup {"query": "sf"} ← llm step 1 · paused'  # not "running…": it waits for a person
    assert re.search(r'1\. lookup \{"query": "new york"\} ← llm step \d+ · done', out["edited"]) and "found new york" in out["edited"] and "Found the edited one." in out["edited"]
    assert "by update_state" in out["thread"] and "~1 changed" in out["thread"]  # the edit is in the thread's history
    assert out["question"] == "now ny" and any("now ny" in c for c in out["choices"])
    assert "Bring a jacket." in out["forked"]
    assert "(+" in out["after_fork"].splitlines()[0] and "~ human: Should I bring a jacket?" in out["after_fork"]
    assert out["labels"][1] == 'thread "t" · approve' and out["labels"][3] == 'thread "t" · reject "not needed"'
    assert out["labels"][5] == 'thread "t" · edit' and out["labels"][6].startswith('thread "t" · fork at step ')
    humans = [m.content for m in out["messages"] if m.type == "human"]
    assert humans[-1] == "Should I bring a jacket?" and "now ny" not in humans
    assert [m.content for m in out["messages"] if isinstance(m, ToolMessage)] == ["found sf", f"{REJECTED_TOOL_CALL} Reason: not needed"]


def test_replay_from_a_checkpoint_pauses_at_the_review_again(tmp_path: Path) -> None:
    RAN.clear()

    async def go() -> tuple[Any, ...]:
        graph, dash = scripted(tmp_path), Dashboard()
        await dash.run(graph, {"messages": [HumanMessage("look up sf")]}, CONFIG)
        await dash.approve()
        waiting = next(v for v in dash.thread.steps if v.next == ("review",))
        with pytest.raises(ValueError, match="nothing to replay"):
            dash.replay(dash.thread.steps[-1].checkpoint_id)  # the finished turn
        replayed = await dash.replay(waiting.step)
        return replayed.status, dash.pending, dash.approval is not None and not dash.approval.answered, dash.labels[-1]

    status, pending, offered, label = asyncio.run(go())
    assert status == "interrupted" and pending["tool_calls"] == [CALL] and offered  # the same question, asked again
    assert label == 'thread "t" · replay from step 1'


def test_bad_edit_from_code_sends_nothing_and_resume_takes_any_value(tmp_path: Path) -> None:
    RAN.clear()

    async def go() -> tuple[Any, ...]:
        graph, dash = scripted(tmp_path), Dashboard()
        await dash.run(graph, {"messages": [HumanMessage("look up sf")]}, CONFIG)
        with pytest.raises(ArgsError, match="not valid JSON"):
            dash.edit('{"query": ')
        with pytest.raises(ArgsError, match="2 argument objects for 1 tool calls"):
            dash.edit([{"query": "a"}, {"query": "b"}])
        untouched = (len(dash.runs), dash.pending is not None, dash.approval.answered)
        report = await dash.resume("approve")  # the general form: Command(resume=...) with any value
        return untouched, report.status, dash.labels[-1], dash.approval.outcome.value

    untouched, status, label, outcome = asyncio.run(go())
    assert untouched == (1, True, False) and RAN == ["sf"]
    assert status == "done" and label == 'thread "t" · resume "approve"' and "resumed with 'approve': run 2" in outcome
