"""Several runs on one dashboard: each run's part of the panels is labelled with its thread and question."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard, TimingsPanel, TokenPanel
from lessonkit.panels.labels import run_label, run_question
from lessonkit.stream.events import ModelEnd, ModelStart, RunEnd, RunStart, Token
from tests.stream_graphs import build, recorded

LONG = "Which of the two cities, Los Angeles or San Francisco, is warmer in the middle of October?"


@pytest.mark.parametrize(("inputs", "question"), [
    ({"messages": [HumanMessage("What is the weather in sf?")]}, '"What is the weather in sf?"'),
    ({"messages": [("user", "hi"), ("assistant", "hello"), ("human", "What about in la?")]}, '"What about in la?"'),
    ({"messages": [{"role": "user", "content": "from a dict"}, {"role": "assistant", "content": "ok"}]}, '"from a dict"'),
    ({"messages": [{"type": "human", "content": [{"type": "text", "text": "in"}, {"type": "text", "text": "parts"}]}]}, '"in parts"'),
    ({"messages": "a bare string"}, '"a bare string"'),
    ({"messages": ("user", "one tuple")}, '"one tuple"'),
    ({"messages": HumanMessage("one message")}, '"one message"'),
    ({"messages": [SystemMessage("be brief"), HumanMessage("  spaced\n  out  "), AIMessage("ok")]}, '"spaced out"'),
    ({"messages": [HumanMessage(LONG)]}, '"Which of the two cities, Los Angeles or San Francisco, is w…"'),
    ({"messages": [SystemMessage("no person here")]}, "no question"),
    ({"approved": True}, "no question"),
    (None, "continue"),
    (Command(resume="approve"), 'resume "approve"'),
    (Command(resume={"ok": True}), "resume"),
])
def test_run_question_is_the_last_human_message_in_any_form(inputs: Any, question: str) -> None:
    assert run_question(inputs) == question


def test_run_label_names_the_thread_then_the_question() -> None:
    assert run_label("1", {"messages": [HumanMessage("What is the weather in sf?")]}) == 'thread "1" · "What is the weather in sf?"'
    assert run_label(None, None) == "no thread · continue"
    assert len(run_question({"messages": [HumanMessage(LONG)]})) == 62  # 60 characters and the quotes


def echo_graph() -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("echo", lambda state: {"messages": [AIMessage(f"you said: {state['messages'][-1].content}")]})
    builder.add_edge(START, "echo")
    return builder.compile(checkpointer=checkpoints.memory_saver())


def run_all(dash: Dashboard, graph: Any, runs: list[tuple[str, str]]) -> list[Any]:
    async def go() -> list[Any]:
        return [await dash.run(graph, {"messages": [HumanMessage(q)]}, {"configurable": {"thread_id": t}}) for t, q in runs]

    return asyncio.run(go())


def test_one_run_prints_and_shows_as_before() -> None:
    dash = Dashboard()
    (report,) = run_all(dash, echo_graph(), [("trip", "What is the weather in sf?")])
    assert dash.text() == str(report) and str(report).startswith("Run on thread 'trip': done\n")
    assert dash.tokens.text() == "[echo · step 1] you said: What is the weather in sf?"
    assert dash.tools.text() == "Tool decisions: none"
    assert dash.timings.text().startswith("Timings: 1 model call, 0 tool calls\n")
    assert "run 1" not in dash.text()
    for box in (dash.tools.cards, dash.timings.body):
        assert not any("lk-run-label" in child._dom_classes for child in box.children)
    assert not any("run" in item for item in dash.tokens.view.items)


def test_several_runs_are_labelled_with_thread_and_question_in_text_and_widgets() -> None:
    dash = Dashboard()
    reports = run_all(dash, echo_graph(), [("trip", "What is the weather in sf?"), ("trip", "What about in la?"), ("trip-new", "What about in la?")])
    assert dash.tokens.text().splitlines() == [
        '── run 1 · thread "trip" · "What is the weather in sf?"', "[echo · step 1] you said: What is the weather in sf?",
        '── run 2 · thread "trip" · "What about in la?"', "[echo · step 4] you said: What about in la?",
        '── run 3 · thread "trip-new" · "What about in la?"', "[echo · step 1] you said: What about in la?",
    ]
    assert dash.tools.text().splitlines()[1::2] == ["no tool calls"] * 3
    timings = dash.timings.text().splitlines()
    assert [line for line in timings if line.startswith("──")] == [
        '── run 1 · thread "trip" · "What is the weather in sf?"', '── run 2 · thread "trip" · "What about in la?"',
        '── run 3 · thread "trip-new" · "What about in la?"',
    ]
    assert timings.count("Timings: 1 model call, 0 tool calls") == 3
    # the reports: the first was made when it was the only run; asked for now, each is labelled
    assert str(reports[0]).startswith("Run on thread 'trip': done")
    assert str(reports[2]).startswith('run 3 · thread "trip-new" · "What about in la?": done\n')
    first = dash.report(dash.runs[0])
    assert first.label == 'run 1 · thread "trip" · "What is the weather in sf?"'
    assert first.transcript == "[echo · step 1] you said: What is the weather in sf?"
    assert dash.text().splitlines()[:5] == [
        "lessonkit dashboard: 3 runs",
        '  run 1 · thread "trip" · "What is the weather in sf?": done',
        '  run 2 · thread "trip" · "What about in la?": done',
        '  run 3 · thread "trip-new" · "What about in la?": done',
        "",
    ]
    # widgets: a heading before each run's cards, the same words
    headings = [item["run"] for item in dash.tokens.view.items if "run" in item]
    assert headings == ['run 1 · thread "trip" · "What is the weather in sf?"', 'run 2 · thread "trip" · "What about in la?"',
                        'run 3 · thread "trip-new" · "What about in la?"']
    kinds = ["heading" if "run" in item else "card" for item in dash.tokens.view.items]
    assert kinds == ["heading", "card"] * 3
    tool_kinds = ["heading" if "lk-run-label" in c._dom_classes else "none" if "lk-no-tools" in c._dom_classes else "?"
                  for c in dash.tools.cards.children]
    assert tool_kinds == ["heading", "none"] * 3
    assert len(dash.timings.body.children) == 9 and dash.timings.table is dash.timings.body.children[-2]
    assert all("<table" in dash.timings.body.children[i].value for i in (1, 4, 7))


def test_the_same_recorded_answer_in_two_runs_gets_two_cards(tmp_path: Path) -> None:
    """Replay gives the same response (and call and tool call ids) to the same request: cards must not merge."""
    folder = recorded(tmp_path)

    async def go() -> Dashboard:
        lesson = lessonkit.start("streams", mode="replay", recordings_dir=folder, announce=False)
        graph = build(lesson, checkpoints.memory_saver())
        dash = Dashboard()
        for thread in ("x", "y"):
            await dash.run(graph, {"messages": [HumanMessage("Which is warmer, LA or SF?")]}, {"configurable": {"thread_id": thread}})
        return dash

    dash = asyncio.run(go())
    assert len(dash.tokens.calls) == 4 and len(dash.tools.decisions) == 2
    x, y = dash.report(dash.runs[0]), dash.report(dash.runs[1])
    assert x.transcript == y.transcript and x.decisions == y.decisions and x.decisions.startswith("1. tavily_search")
    assert x.label == 'run 1 · thread "x" · "Which is warmer, LA or SF?"' and y.label.startswith('run 2 · thread "y"')
    cards = [c.value for c in dash.tools.cards.children if "lk-decision" in c._dom_classes]
    assert len(cards) == 2 and all(c.startswith("<div class='lk-head'><b>1. tavily_search</b>") for c in cards)


def test_panels_used_on_their_own_open_a_section_per_run_start() -> None:
    tokens, timings = TokenPanel(), TimingsPanel()
    for n, thread in enumerate(("a", "b")):
        for event in (RunStart(t=0.0, run_id=f"r{n}", thread_id=thread, source="astream"), ModelStart(t=0.0, call_id="c", node="llm", step=1), Token(t=0.1, call_id="c", text=f"hi {thread}"),
                      ModelEnd(t=0.2, call_id="c", node="llm", step=1, text=f"hi {thread}", chunks=1), RunEnd(t=0.3, run_id=f"r{n}")):
            tokens.on_event(event)
            timings.on_event(event)
    timings.sync()
    assert tokens.text().splitlines() == ['── run 1 · thread "a"', "[llm · step 1] hi a", '── run 2 · thread "b"', "[llm · step 1] hi b"]
    assert timings.text().splitlines()[0] == '── run 1 · thread "a"' and timings.text().count("Timings: 1 model call") == 2
