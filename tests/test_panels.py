"""Panels: batching on a time budget, bytes that grow linearly, text forms, the dashboard, cancel."""
from __future__ import annotations

import asyncio
import gc
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard, ThreadPanel, TokenPanel
from lessonkit.panels.batching import Flusher
from lessonkit.panels.token_view import apply_ops
from bench.comm_bytes import CountingComm
from lessonkit.panels.thread import SHOWN_STEPS
from lessonkit.harness.recording import Cassette, Reply, Script
from lessonkit.stream.events import ModelEnd, ModelStart, RunEnd, Token
from tests.stream_graphs import ANSWER, build, recorded
from tests.widget_traffic import widget_bytes, widget_messages  # noqa: F401 (fixtures)

QUESTION = {"messages": [HumanMessage("Which is warmer, LA or SF?")]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_flusher_caps_flushes_at_twenty_a_second_whatever_the_rate() -> None:
    clock, pushes = FakeClock(), []
    flusher = Flusher(lambda: pushes.append(clock.now), clock=clock)  # the default budget
    for _ in range(5000):  # 2,500 requests a second for two seconds
        clock.now += 0.0004
        flusher.request()
    assert flusher.max_flushes_per_second() <= 20
    flusher.flush(final=True)
    assert len(pushes) >= 2 / flusher.interval - 1  # ...and it keeps flushing, once per interval, while tokens come
    assert flusher.longest_wait <= flusher.interval + 0.001  # no change waits longer than one interval (+1 fake tick)
    assert pushes[-1] == clock.now  # the final flush always happens


def test_flusher_timer_sends_the_tail_without_another_request() -> None:
    pushes: list[int] = []

    async def go() -> None:
        flusher = Flusher(lambda: pushes.append(1), interval=0.05)
        flusher.request()  # sent at once
        flusher.request()  # too soon: waits for the timer
        assert len(pushes) == 1 and flusher.pending_since is not None
        await asyncio.sleep(0.2)
        assert len(pushes) == 2 and flusher.pending_since is None

    asyncio.run(go())


def feed_tokens(widget_bytes: list[int], chars: int, per_flush: int = 50) -> tuple[int, str]:
    """Stream ~chars of text as 5-character tokens into a token panel, syncing every per_flush tokens."""
    panel = TokenPanel()
    before = sum(widget_bytes)
    panel.on_event(ModelStart(t=0.0, call_id="c1", node="llm", step=1))
    text = ""
    for n in range(chars // 5):
        piece = f" w{n % 1000:03d}"
        text += piece
        panel.on_event(Token(t=0.0, call_id="c1", text=piece))
        if n % per_flush == 0:
            panel.sync()
    panel.sync()
    assert panel.calls["c1"].answer == text and panel.view.items[0]["text"] == text
    return sum(widget_bytes) - before, text


def test_bytes_sent_grow_linearly_with_the_text(widget_bytes: list[int]) -> None:
    small, _ = feed_tokens(widget_bytes, 4_000)
    large, text = feed_tokens(widget_bytes, 16_000)
    assert large / small < 5  # 4× the text costs about 4× the bytes (quadratic would be ~16×)
    assert large < 1.0 * len(text)  # ~250 new characters a flush, compressed: each character once, plus ~75 B a flush
    assert (large - small) / (len(text) * 0.75) < 1.0  # what one more character costs: under itself, compressed


def test_naive_per_token_value_updates_are_quadratic(widget_bytes: list[int]) -> None:
    """The baseline the panel avoids: setting HTML.value per token."""
    import ipywidgets as widgets

    html, value = widgets.HTML(), ""
    start = sum(widget_bytes)
    for n in range(16_000 // 5):
        value += f" w{n % 1000:03d}"
        html.value = value
    assert sum(widget_bytes) - start > 100 * len(value)


def batches() -> list[tuple[int, list[Any], bool]]:
    """Each custom message sent so far as ``(seq, ops, compressed)``, decoded as the browser decodes it."""
    out = []
    for (kind, data), buffers in zip(CountingComm.messages, CountingComm.buffers, strict=True):
        if kind == "comm_msg" and data.get("method") == "custom":
            content = data["content"]
            if len(content) == 2:
                out.append((content[0], content[1], False))
            else:
                out.append((content[0], json.loads(zlib.decompress(buffers[0], -15)), True))
    return out


def updates() -> list[Any]:
    """The token view's state updates sent so far."""
    return [data for kind, data in CountingComm.messages if kind == "comm_msg" and data.get("method") == "update" and "panel" in data["state"]]


def replayed(sent: list[tuple[int, list[Any], bool]]) -> list[dict[str, Any]]:
    """What a browser that saw every batch holds: the ops applied in order to an empty panel."""
    items: list[dict[str, Any]] = []
    for _, ops, _ in sent:
        apply_ops(items, ops)
    return items


@pytest.mark.usefixtures("widget_messages")
def test_token_view_sends_each_character_once_in_one_batch_per_flush_compressed_when_smaller() -> None:
    panel = TokenPanel()
    panel.on_event(ModelStart(t=0.0, call_id="c1", node="llm", step=1, model="gpt-4o"))
    words = " ".join(f"word{n} <b>&amp;</b>" for n in range(300))
    for start in range(0, len(words), 7):
        panel.on_event(Token(t=0.0, call_id="c1", text=words[start:start + 7]))
        if start % 700 == 0:
            panel.sync()
    assert panel.calls["c1"].answer == words and panel.view.items[0]["text"] != words  # the text form has what is not sent yet
    panel.sync()
    panel.sync()  # nothing new: nothing sent
    sent = batches()
    assert [seq for seq, _, _ in sent] == list(range(1, len(sent) + 1)) and len(sent) == len(range(0, len(words), 700)) + 1
    texts = [op for _, ops, _ in sent for op in ops if op[0] == "text"]
    assert "".join(op[2] for op in texts) == words and len(texts) == len(sent)  # raw text, once; a flush's tokens in one op
    assert sent[0][2] is False and all(compressed for _, _, compressed in sent[1:])  # a short first batch goes inline
    assert replayed(sent) == panel.view.items == [{"label": "llm · step 1", "model": "gpt-4o", "status": "streaming…", "text": words, "args": []}]
    assert updates() == [] and panel.view.get_state()["panel"]["items"][0]["text"] == words  # kept whole, never resent


@pytest.mark.usefixtures("widget_messages")
def test_a_lone_surrogate_becomes_a_replacement_character_instead_of_stopping_the_stream() -> None:
    panel = TokenPanel()
    panel.on_event(ModelStart(t=0.0, call_id="c1", node="llm", step=1))
    for piece in ("a😀", "b\ud83d", "c"):
        panel.on_event(Token(t=0.0, call_id="c1", text=piece))
        panel.sync()
    panel.on_event(Token(t=0.0, call_id="c1", text='{"q": "\udc00"}', token_kind="tool_args", tool_call_index=0, tool_name="search"))
    panel.sync()
    assert replayed(batches())[0]["text"] == "a😀b\ufffdc" == panel.calls["c1"].answer
    assert replayed(batches())[0]["args"] == [["search", '{"q": "\ufffd"}']] and panel.text().endswith('search({"q": "\ufffd"})')


@pytest.mark.usefixtures("widget_messages")
def test_a_view_that_missed_a_batch_gets_the_whole_panel_once() -> None:
    panel = TokenPanel()
    panel.on_event(ModelStart(t=0.0, call_id="c1", node="llm", step=1))
    panel.on_event(Token(t=0.0, call_id="c1", text="café 😀"))
    panel.sync()
    view = panel.view
    view.comm.handle_msg({"content": {"data": {"method": "custom", "content": {"resync": 0}}}, "buffers": []})
    assert [u["state"]["panel"] for u in updates()] == [{"seq": 1, "items": view.items}] and view.items[0]["text"] == "café 😀"
    view.comm.handle_msg({"content": {"data": {"method": "custom", "content": "junk"}}, "buffers": []})
    assert len(updates()) == 1  # a stray message gets nothing


@pytest.mark.usefixtures("widget_messages")
def test_a_call_that_only_asks_for_tools_shows_no_answer_until_its_first_text() -> None:
    panel = TokenPanel()
    opened = len([k for k, _ in CountingComm.messages if k == "comm_open"])
    panel.on_event(ModelStart(t=0.0, call_id="c1", node="llm", step=1))
    for piece in ('{"query": ', '"la vs sf"}'):
        panel.on_event(Token(t=0.0, call_id="c1", text=piece, token_kind="tool_args", tool_call_index=0, tool_name="tavily_search"))
    panel.sync()
    assert panel.view.items[0]["text"] == "" and panel.view.items[0]["args"] == [["tavily_search", '{"query": "la vs sf"}']]
    panel.on_event(Token(t=0.0, call_id="c1", text="LA is warmer."))
    panel.on_event(ModelEnd(t=1.0, call_id="c1", node="llm", step=1, text="LA is warmer.", chunks=3, output_tokens=9))
    panel.sync()
    assert replayed(batches()) == panel.view.items and panel.view.items[0]["status"] == "done: 3 chunks, 9 tokens"
    assert panel.text() == '[llm · step 1] LA is warmer.\n  → tavily_search({"query": "la vs sf"})'
    assert len([k for k, _ in CountingComm.messages if k == "comm_open"]) == opened  # no widget opened per call or per text


def test_the_token_view_ships_its_module_in_the_package_and_sets_text_never_markup() -> None:
    view = TokenPanel().view
    module = view.get_state()["_esm"]
    assert "msg:custom" in module and "createTextNode" in module and "DecompressionStream" in module
    assert "innerHTML" not in module and "save_changes" not in module  # text, never markup; the browser's copy is never sent back
    for kind in ("run", "card", "status", "text", "args"):
        assert f'kind === "{kind}"' in module, f"token_view.js must mirror apply_ops for {kind!r}"
    assert view._dom_classes == ("lk-token-cards",)
    assert "static/*.js" in Path(lessonkit.__file__).parents[1].joinpath("pyproject.toml").read_text()


def dashboard_run(tmp_path: Path, via: str = "astream") -> tuple[Dashboard, Any]:
    folder = recorded(tmp_path)

    async def go() -> tuple[Dashboard, Any]:
        lesson = lessonkit.start("streams", mode="replay", recordings_dir=folder, announce=False)
        dash = Dashboard(via=via)  # type: ignore[arg-type]
        report = await dash.run(build(lesson, checkpoints.memory_saver()), QUESTION, {"configurable": {"thread_id": "t"}})
        return dash, report

    return asyncio.run(go())


@pytest.mark.parametrize("via", ["astream", "astream_events"])
def test_dashboard_run_fills_every_panel_and_reports_in_text(tmp_path: Path, via: str) -> None:
    dash, report = dashboard_run(tmp_path, via)
    text = str(report)
    assert text.startswith("Run on thread 't': done")
    assert f"[research › llm · step 3] {ANSWER}" in text
    assert '→ tavily_search({"query": "la vs sf temperature"})' in text
    assert '1. tavily_search {"query": "la vs sf temperature"} ← llm step 1 · done' in text
    assert "result: {'query': 'la vs sf temperature'" in text
    assert [c.kind for c in dash.timings.timings.calls] == ["model", "tool", "model"]
    assert "<svg" in dash.timings.timeline.value and dash.timings.table.value.count("<tr") == 4
    assert "tavily_search" in dash.tools.cards.children[0].value
    assert dash.thread.text().startswith("thread 't':") and "+ ai: asks for tavily_search" in dash.thread.text()
    assert dash.progress.value > 0 and dash.stop_button.disabled
    assert gc.get_freeze_count() == 0  # quiet_gc gave the frozen objects back


def test_panels_have_deterministic_text_and_widget_forms() -> None:
    dash = Dashboard()
    bundle = dash._repr_mimebundle_()
    assert bundle["text/plain"] == "lessonkit dashboard: ready (tokens, tool decisions, timings, thread history)"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == dash.widget.model_id
    for panel, empty in ((dash.tokens, "Tokens: no model calls yet"), (dash.tools, "Tool decisions: none"),
                         (dash.timings, "Timings: no calls yet"), (dash.thread, "Thread history: no thread loaded")):
        assert panel.text() == empty and str(panel) == empty
    assert not hasattr(dash.widget, "outputs")  # no Output widget, no `with output:` printing


def slow_lesson(tmp_path: Path) -> Path:
    """A recording with a long answer (paced replay takes seconds) and the next turn's request."""
    folder = tmp_path / "recordings"
    long_answer = " ".join(f"word{n}" for n in range(400))
    script = Script(replies=[Reply(content=long_answer), Reply(content="Second turn answered.")], note="cancel test")
    lesson = lessonkit.Lesson("slow", "record", 0.0, Cassette(folder / "slow.json"), script=script)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="Be brief.")
    graph.invoke({"messages": [HumanMessage("Tell me a long story.")]}, {"configurable": {"thread_id": "a"}})
    # what the next turn sends after a cancel: the first question (no answer kept) and the second
    graph.invoke({"messages": [HumanMessage("Tell me a long story."), HumanMessage("Just say hello.")]}, {"configurable": {"thread_id": "b"}})
    return folder


def test_stop_cancels_the_run_keeps_the_checkpoint_and_the_next_turn_works(tmp_path: Path) -> None:
    folder = slow_lesson(tmp_path)
    db = tmp_path / "threads.db"

    async def go() -> tuple[Any, Any, Any, Dashboard]:
        lesson = lessonkit.start("slow", mode="replay", speed=1.0, recordings_dir=folder, announce=False)
        saver = await checkpoints.async_sqlite_saver(db)
        graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=saver, system="Be brief.")
        config = {"configurable": {"thread_id": "c"}}
        dash = Dashboard()
        task = dash.start(graph, {"messages": [HumanMessage("Tell me a long story.")]}, config)
        for _ in range(1000):  # wait until tokens are visibly streaming
            await asyncio.sleep(0.01)
            if sum(isinstance(e, Token) for e in dash.events) >= 3:
                break
        assert not dash.stop_button.disabled
        dash.stop_button.click()
        with pytest.raises(asyncio.CancelledError):
            await task
        after_cancel = await graph.aget_state(config)
        second = await Dashboard().run(graph, {"messages": [HumanMessage("Just say hello.")]}, config)
        final = await graph.aget_state(config)
        await checkpoints.close_saver(saver)
        return after_cancel, second, final, dash

    after_cancel, second, final, dash = asyncio.run(go())
    assert isinstance(dash.events[-1], RunEnd) and dash.events[-1].status == "cancelled"
    assert "stopped" in dash.status.value
    assert gc.get_freeze_count() == 0  # a cancelled run gives the frozen objects back too
    assert [m.content for m in after_cancel.values["messages"]] == ["Tell me a long story."]  # intact, nothing half-written
    assert second.status == "done" and "Second turn answered." in second.transcript
    assert [m.type for m in final.values["messages"]] == ["human", "human", "ai"]


def echo_graph() -> Any:
    """A one-node graph on a memory saver that answers "you said: <question>" (three checkpoints a turn)."""
    builder = StateGraph(MessagesState)
    builder.add_node("echo", lambda state: {"messages": [AIMessage(f"you said: {state['messages'][-1].content}")]})
    builder.add_edge(START, "echo")
    return builder.compile(checkpointer=checkpoints.memory_saver())


def test_thread_panel_follows_the_current_branch_after_a_fork() -> None:
    graph = echo_graph()
    config = {"configurable": {"thread_id": "f"}}
    graph.invoke({"messages": [HumanMessage("first", id="q1")]}, config)
    graph.invoke({"messages": [HumanMessage("second", id="q2")]}, config)
    asked_second = next(s for s in graph.get_state_history(config) if s.next == ("echo",) and s.values["messages"][-1].id == "q2")
    fork = graph.update_state(asked_second.config, {"messages": [HumanMessage("changed", id="q2")]})
    graph.invoke(None, fork)

    panel = ThreadPanel().load(graph, config)
    everything = len(list(graph.get_state_history(config)))
    assert len(panel.steps) + panel.other_branches == everything and panel.other_branches == 1  # the old answer
    assert [m.content for m in panel.messages] == ["first", "you said: first", "changed", "you said: changed"]
    assert [m.content for view in panel.steps for m in view.new_messages] == ["first", "you said: first", "second", "you said: changed"]
    fork_step = next(view for view in panel.steps if view.source == "update")
    assert [m.content for m in fork_step.changed_messages] == ["changed"] and "~1 changed" in fork_step.title()
    assert "(+1 on other branches)" in panel.text() and "~ human: changed" in panel.text()
    assert "you said: second" not in panel.text()  # the abandoned branch's answer is not shown as part of this one
    assert panel.history.value.count("<details>") == len(panel.steps)


def test_thread_panel_widget_shows_the_newest_steps_of_a_long_thread() -> None:
    graph = echo_graph()
    config = {"configurable": {"thread_id": "long"}}
    for n in range(30):  # three checkpoints a turn
        graph.invoke({"messages": [HumanMessage(f"question {n}")]}, config)
    panel = ThreadPanel().load(graph, config)
    assert len(panel.steps) == 90 and panel.history.value.count("<details>") == SHOWN_STEPS
    assert "30 earlier steps not shown" in panel.history.value and "question 29" in panel.history.value
    assert "question 0" in panel.text()  # the text form keeps every step


def test_the_tool_column_says_no_tool_calls_until_there_is_one() -> None:
    from lessonkit.panels.tools import ToolDecisionsPanel
    from lessonkit.stream.events import ToolDecision
    panel = ToolDecisionsPanel()
    assert [c.value for c in panel.cards.children] == ["<span class='lk-muted'>no tool calls</span>"]
    for n in (1, 2):
        panel.on_event(ToolDecision(t=0.1 * n, tool="tavily_search", args={"query": f"q{n}"}, tool_call_id=f"c{n}",
                                    model_call_id="m1", node="llm", step=1))
    panel.sync()
    assert len(panel.cards.children) == 2 and panel.placeholder not in panel.cards.children
    assert all("tavily_search" in c.value for c in panel.cards.children)


def test_timeline_ends_its_last_tick_label_at_the_tick_so_it_is_not_cut_off() -> None:
    from lessonkit.panels.style import TIMELINE_CSS
    from lessonkit.panels.timings import WIDTH, timeline_svg
    from lessonkit.stream.events import ModelEnd, RunStart
    from lessonkit.stream.timings import compute_timings

    svg = timeline_svg(compute_timings([RunStart(t=0.0, run_id="r", thread_id="t", source="astream"), ModelStart(t=0.0, call_id="c", node="llm", step=1), Token(t=0.1, call_id="c", text="hi"),
                                        ModelEnd(t=0.5, call_id="c", node="llm", step=1, text="hi", chunks=2), RunEnd(t=0.6, run_id="r")]))
    ticks = [part for part in svg.split("<text ") if part.startswith("class='tick")]
    assert len(ticks) == 5 and all(t.startswith("class='tick'") for t in ticks[:4]) and ticks[4].startswith("class='tick last'")
    assert ".lk-timeline text.tick.last { text-anchor: end; }" in TIMELINE_CSS
    assert f"viewBox='0 0 {WIDTH} " in svg and "max-width: 100%" in TIMELINE_CSS  # a narrow output scales it down, never crops it
