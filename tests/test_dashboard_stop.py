"""Stop: a background run cancelled mid-stream leaves every panel saying so, and the thread continues.

The runs replay authored recordings at speed 1 (synthesized chunk timing), so there is time to stop
after the first token, or while a tool is running; the continuations replay at speed 0.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from lessonkit.panels.report import STOPPED_STATUS, StepsBar, run_status, steps_at_end
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall
from lessonkit.stream.events import NodeEnd, RunEnd, RunStart, Token

STORY = " ".join(f"word{n}" for n in range(200))  # 200 chunks at 25 ms: five seconds if nobody stops it
FIRST = {"messages": [HumanMessage("Tell me a long story.")]}
SECOND = {"messages": [HumanMessage("Just say hello.")]}
TOOL_DELAY = {"s": 0.0}  # how long slow_lookup takes: 0 while recording and continuing, long while a test stops it


@tool
async def slow_lookup(city: str) -> str:
    """The weather in a city (slowly)."""
    await asyncio.sleep(TOOL_DELAY["s"])
    return f"sunny in {city}"


def record(tmp_path: Path) -> Path:
    """Two recordings: a long story then a second turn on the same thread; a tool call then its answer."""
    folder = tmp_path / "recordings"
    story = Script(replies=[Reply(content=STORY), Reply(content="Hello!")], note="stop test")
    lesson = lessonkit.Lesson("story", "record", 0.0, Cassette(folder / "story.json"), script=story)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="Be brief.")
    for question in (FIRST, SECOND):  # what a thread sends once the stopped turn was continued to its end
        graph.invoke(question, {"configurable": {"thread_id": "rec"}})
    weather = Script(replies=[Reply(tool_calls=(ScriptedCall("slow_lookup", {"city": "sf"}, "call_w1"),)), Reply(content="It is sunny in sf.")],
                     note="stop test")
    lesson = lessonkit.Lesson("weather", "record", 0.0, Cassette(folder / "weather.json"), script=weather)
    graph = lessonkit.build_agent(lesson.chat_model(), [slow_lookup], checkpointer=checkpoints.memory_saver(), system="Be brief.")
    asyncio.run(graph.ainvoke({"messages": [HumanMessage("Weather in sf?")]}, {"configurable": {"thread_id": "rec"}}))  # an async tool
    return folder


def agent(folder: Path, name: str, saver: Any, speed: float, tools: list[Any]) -> Any:
    lesson = lessonkit.start(name, mode="replay", speed=speed, recordings_dir=folder, announce=False)
    return lessonkit.build_agent(lesson.chat_model(), tools, checkpointer=saver, system="Be brief.")


def test_steps_bar_ends_full_when_done_and_shows_the_unfinished_step_otherwise() -> None:
    assert steps_at_end("done", 3) == StepsBar(3, 3, "success", "steps")
    assert steps_at_end("done", 0) == StepsBar(1, 1, "success", "steps")  # a run without node events still ends full
    assert steps_at_end("cancelled", 2) == StepsBar(2, 3, "warning", "stopped")
    assert steps_at_end("error", 1) == StepsBar(1, 2, "danger", "failed")
    assert steps_at_end("interrupted", 3) == StepsBar(3, 4, "info", "paused")
    assert run_status([RunStart(t=0.0, run_id="r", thread_id="t", source="astream")]) == "running"
    assert run_status([RunStart(t=0.0, run_id="r", thread_id="t", source="astream"), RunEnd(t=1.0, run_id="r", status="cancelled")]) == "stopped"


def test_stop_after_the_first_token_then_continue_and_ask_again(tmp_path: Path) -> None:
    folder = record(tmp_path)
    config = {"configurable": {"thread_id": "c"}}

    async def go() -> dict[str, Any]:
        saver = checkpoints.memory_saver()
        paced, instant = agent(folder, "story", saver, 1.0, []), agent(folder, "story", saver, 0.0, [])
        dash = Dashboard()
        task = dash.start(paced, FIRST, config)
        assert not dash.stop_button.disabled and dash.status_text == "running…"
        first = await dash.wait_for("token")
        dash.stop()
        stopped = await dash.wait()
        out: dict[str, Any] = {"dash": dash, "first": first, "stopped": stopped, "task": task, "text": dash.text(),
                               "tokens": dash.tokens.text(), "timings": dash.timings.text(), "table": dash.timings.table.value,
                               "bar": (dash.progress.value, dash.progress.max, dash.progress.bar_style, dash.progress.description),
                               "after_stop": await paced.aget_state(config)}
        out["continued"] = await dash.run(instant, None, config)  # None: go on from the last checkpoint
        out["asked"] = dash.start(instant, SECOND, config)
        out["second"] = await dash.wait()
        out["final"] = await instant.aget_state(config)
        return out

    out = asyncio.run(go())
    dash, stopped = out["dash"], out["stopped"]
    assert isinstance(out["first"], Token) and out["task"].cancelled()
    # the stopped run, in every panel and in its text forms
    assert stopped.status == "stopped" and str(stopped).startswith("Run on thread 'c': stopped\n")
    assert out["text"] == str(stopped)  # one run: the dashboard's text is its report, as before
    assert out["tokens"].startswith("[llm · step 1 · stopped] word0") and STORY not in out["tokens"]
    call = next(iter(dash.tokens.calls.values()))
    assert call.status == "stopped" and next(item for item in dash.tokens.view.items if "status" in item)["status"] == "stopped"
    timings_head, model_row = out["timings"].splitlines()[:2]
    assert timings_head == "Timings: 1 model call, 0 tool calls (stopped)" and model_row.endswith("incomplete")
    assert "<td class='lk-error'>stopped</td>" in out["table"]
    steps = sum(isinstance(e, NodeEnd) for e in dash.runs[0])
    assert out["bar"] == (steps, steps + 1, "warning", "stopped")
    assert isinstance(dash.runs[0][-1], RunEnd) and dash.runs[0][-1].status == "cancelled"
    assert [m.type for m in out["after_stop"].values["messages"]] == ["human"] and out["after_stop"].next == ("llm",)
    # continuing: the model call runs again from the checkpoint, to its end
    continued = out["continued"]
    assert continued.status == "done" and continued.transcript == f"[llm · step 1] {STORY}"
    assert str(continued).startswith('run 2 · thread "c" · continue: done\n')
    assert len(dash.tokens.calls) == 3  # the same recorded answer twice: two cards, not one replaced
    # asking again on the same thread: the whole story is in its history, the answer arrives
    assert out["second"].status == "done" and out["second"].transcript == "[llm · step 4] Hello!"
    assert [m.content for m in out["final"].values["messages"]] == ["Tell me a long story.", STORY, "Just say hello.", "Hello!"]
    assert dash.text().splitlines()[:4] == [
        "lessonkit dashboard: 3 runs",
        '  run 1 · thread "c" · "Tell me a long story.": stopped',
        '  run 2 · thread "c" · continue: done',
        '  run 3 · thread "c" · "Just say hello.": done',
    ]
    assert dash.status_text == "done" and dash.stop_button.disabled
    assert (dash.progress.value, dash.progress.bar_style) == (dash.progress.max, "success")


def test_stop_while_a_tool_runs_marks_the_tool_stopped_and_the_next_run_calls_it_again(tmp_path: Path) -> None:
    folder = record(tmp_path)
    config = {"configurable": {"thread_id": "w"}}

    async def go() -> dict[str, Any]:
        saver = checkpoints.memory_saver()
        weather = agent(folder, "weather", saver, 0.0, [slow_lookup])
        dash = Dashboard()
        TOOL_DELAY["s"] = 60.0
        try:
            dash.start(weather, {"messages": [HumanMessage("Weather in sf?")]}, config)
            await dash.wait_for("tool_start")
            dash.stop()
            stopped = await dash.wait()
        finally:
            TOOL_DELAY["s"] = 0.0
        out = {"dash": dash, "stopped": stopped, "decisions": dash.tools.text(), "card": dash.tools.cards.children[0].value,
               "status": dash.status_text, "after_stop": await weather.aget_state(config)}
        out["continued"] = await dash.run(weather, None, config)
        return out

    out = asyncio.run(go())
    assert out["status"] == STOPPED_STATUS
    assert out["decisions"] == '1. slow_lookup {"city": "sf"} ← llm step 1 · stopped'
    assert "<span class='lk-status'>stopped</span>" in out["card"]
    assert "[llm · step 1]" in out["stopped"].transcript and "stopped]" not in out["stopped"].transcript  # the model call had ended
    assert out["stopped"].timings.splitlines()[0] == "Timings: 1 model call, 1 tool call (stopped)"
    assert [m.type for m in out["after_stop"].values["messages"]] == ["human", "ai"] and out["after_stop"].next == ("action",)
    continued = out["continued"]
    assert continued.status == "done" and continued.transcript == "[llm · step 3] It is sunny in sf."
    # the stopped run's decision runs now: its card is in this run too, done
    assert continued.decisions.splitlines() == ['1. slow_lookup {"city": "sf"} ← llm step 1 · done', "   result: sunny in sf"]
    assert any(row.startswith("tool   slow_lookup") for row in continued.timings.splitlines())
    text = out["dash"].tools.text()
    assert text.splitlines() == [
        '── run 1 · thread "w" · "Weather in sf?"', '1. slow_lookup {"city": "sf"} ← llm step 1 · stopped',
        '── run 2 · thread "w" · continue', '1. slow_lookup {"city": "sf"} ← llm step 1 · done', "   result: sunny in sf",
    ]


def test_stop_before_the_background_run_began(tmp_path: Path) -> None:
    folder = record(tmp_path)
    config = {"configurable": {"thread_id": "early"}}

    async def go() -> tuple[Dashboard, Any, Any]:
        saver = checkpoints.memory_saver()
        paced = agent(folder, "story", saver, 1.0, [])
        dash = Dashboard()
        dash.start(paced, FIRST, config)
        dash.stop()  # in the same cell: the task never ran a line
        report = await dash.wait()
        return dash, report, await paced.aget_state(config)

    dash, report, state = asyncio.run(go())
    assert report.status == "stopped" and report.thread_id == "early" and report.transcript == "Tokens: no model calls yet"
    assert dash.status_text == "stopped before the run began: nothing was sent" and dash.stop_button.disabled
    assert (dash.progress.value, dash.progress.max, dash.progress.bar_style) == (0, 1, "warning")
    assert not state.values  # nothing reached the thread


def test_a_second_run_waits_for_the_background_one(tmp_path: Path) -> None:
    folder = record(tmp_path)

    async def go() -> str:
        paced = agent(folder, "story", checkpoints.memory_saver(), 1.0, [])
        dash = Dashboard()
        dash.start(paced, FIRST, {"configurable": {"thread_id": "busy"}})
        try:
            await dash.run(paced, SECOND, {"configurable": {"thread_id": "other"}})
        except RuntimeError as error:
            return str(error)
        finally:
            dash.stop()
            await dash.wait()
        return "no error"

    assert asyncio.run(go()).startswith("this dashboard is still running a turn: `await dash.wait()`")


def test_two_awaited_runs_at_once_are_refused_too(tmp_path: Path) -> None:
    folder = record(tmp_path)

    async def go() -> list[str]:
        paced = agent(folder, "story", checkpoints.memory_saver(), 1.0, [])
        dash = Dashboard()
        results = await asyncio.gather(dash.run(paced, FIRST, {"configurable": {"thread_id": "a"}}),
                                       dash.run(paced, SECOND, {"configurable": {"thread_id": "b"}}), return_exceptions=True)
        return [str(r) if isinstance(r, RuntimeError) else type(r).__name__ for r in results]

    first, second = asyncio.run(go())
    assert first == "RunReport" and second.startswith("this dashboard is still running a turn")


def test_a_failed_background_run_raises_from_wait_and_the_bar_says_failed() -> None:
    from langgraph.graph import START, MessagesState, StateGraph

    def broken(state: MessagesState) -> dict[str, Any]:
        raise ValueError("the node broke")

    builder = StateGraph(MessagesState)
    builder.add_node("broken", broken)
    builder.add_edge(START, "broken")
    graph = builder.compile(checkpointer=checkpoints.memory_saver())

    async def go() -> tuple[Dashboard, str]:
        dash = Dashboard()
        dash.start(graph, FIRST, {"configurable": {"thread_id": "f"}})
        try:
            await dash.wait()
        except ValueError as error:
            return dash, str(error)
        return dash, "no error"

    dash, error = asyncio.run(go())
    assert error == "the node broke" and dash.status_text.startswith("failed: ")
    assert dash.report().status == "error" and (dash.progress.bar_style, dash.progress.description) == ("danger", "failed")
