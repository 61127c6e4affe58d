"""The graph panel: the offline layout (every node placed, no overlaps, loops found), and the highlight
following NodeStart/NodeEnd from real replayed agent runs, in the picture, the text form and the Mermaid."""
from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels.graph import GraphPanel, mermaid_id, node_id
from lessonkit.panels.graph_layout import END, START, GraphEdge, Highlight, layout, render_svg
from lessonkit.stream.adapters import watch
from lessonkit.stream.events import NodeEnd, NodeStart, RunEnd, RunStart
from tests.stream_graphs import build, recorded

QUESTION = {"messages": [HumanMessage("Which is warmer, LA or SF?")]}
AGENT_EDGES = [GraphEdge(START, "llm"), GraphEdge("action", "llm"), GraphEdge("llm", END, True, "False"), GraphEdge("llm", "action", True, "True")]


def no_overlaps(boxes: Any) -> bool:
    return not any(a.overlaps(b) for a, b in itertools.combinations(boxes.values(), 2))


def test_the_agent_loop_is_laid_out_in_layers() -> None:
    lay = layout([START, "llm", "action", END], AGENT_EDGES)
    b = lay.boxes
    assert set(b) == {START, "llm", "action", END} and no_overlaps(b)
    assert (b[START].layer, b["llm"].layer, b["action"].layer, b[END].layer) == (0, 1, 2, 2)  # END beside the loop's body
    assert lay.back_edges == {("action", "llm")}  # the loop's way back up
    assert b["action"].x > b[END].x  # a loop's ends go right: its edge goes round the right side, crossing nothing
    assert all(0 <= box.x and box.x + box.w <= lay.width and box.y + box.h <= lay.height for box in b.values())
    assert (b[START].label, b[END].label, b["llm"].label) == ("START", "END", "llm")


def test_wide_and_deep_graphs_keep_nodes_apart() -> None:
    fan = [START, "plan", *(f"worker_{i}" for i in range(5)), "merge", "check", END]
    edges = [GraphEdge(START, "plan"), *(GraphEdge("plan", f"worker_{i}") for i in range(5)),
             *(GraphEdge(f"worker_{i}", "merge") for i in range(5)), GraphEdge("merge", "check"),
             GraphEdge("check", "plan", True), GraphEdge("check", END, True), GraphEdge(START, END)]
    lay = layout(fan, edges)
    assert set(lay.boxes) == set(fan) and no_overlaps(lay.boxes)
    assert {lay.boxes[f"worker_{i}"].layer for i in range(5)} == {2} and lay.boxes[END].layer == 5
    assert lay.back_edges == {("check", "plan")}
    svg = render_svg(lay)
    assert svg.count("<path class='lk-edge") == len(edges) and svg.count("<rect x=") == len(fan)
    assert svg.count("stroke-dasharray") == 2  # the conditional edges


def test_a_long_edge_goes_round_the_nodes_it_would_cross() -> None:
    lay = layout([START, "a", "b", END], [GraphEdge(START, "a"), GraphEdge("a", "b"), GraphEdge("b", END), GraphEdge("a", END, True)])
    long = re.findall(r" d='M([\d.]+) [\d.]+C(-?[\d.]+)", render_svg(lay))[-1]  # a → END, drawn last
    assert float(long[1]) < lay.boxes["b"].x  # its curve bends left of b instead of through it


def test_highlight_and_caption_in_the_picture() -> None:
    lay = layout([START, "llm", "action", END], AGENT_EDGES)
    svg = render_svg(lay, Highlight({START: "done", "llm": "running"}, {"llm": 2}, {(START, "llm")}, "running: llm"))
    assert "<g class='lk-node running' data-node='llm'>" in svg and "@keyframes lk-pulse" in svg and "×2" in svg
    assert re.search(r"<text data-caption='' [^>]*>running: llm</text>", svg)
    assert svg.count("class='lk-edge taken'") == 1 and "data-edge='__start__&gt;llm'" in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_node_ids_across_subgraphs() -> None:
    assert node_id("llm", (), False) == "llm"
    assert node_id("llm", ("research:1f2e",), False) is None  # without xray the subgraph's node stands for it
    assert node_id("llm", ("research:1f2e", "inner:9a"), True) == "research:inner:llm"
    assert mermaid_id("research:llm") == "research\\3allm"


def replay(tmp_path: Path, via: str, make: Any, xray: bool = False) -> tuple[GraphPanel, list[tuple[str, str, str]]]:
    """Stream a recorded run into a GraphPanel; after every node event: the event, the running nodes, the text."""
    folder = recorded(tmp_path)
    seen: list[tuple[str, str, str]] = []

    async def go() -> GraphPanel:
        lesson = lessonkit.start("streams", mode="replay", recordings_dir=folder, announce=False)
        graph = make(lesson)
        panel = GraphPanel(graph, xray=xray)
        picture = panel.view.svg
        assert set(re.findall(r"data-node='([^']+)'", picture)) == set(panel.nodes) and "data-caption=''" in picture
        async for event in watch(graph, QUESTION, {"configurable": {"thread_id": "t"}}, via=via):
            if panel.on_event(event) and isinstance(event, (NodeStart, NodeEnd)):
                panel.sync()
                running = sorted(n for n, state in panel.states.items() if state == "running")
                assert ("running" in panel.view.marks["states"].values()) == bool(running)
                assert panel.view.svg == picture  # drawn once; only the marks move
                seen.append((f"{type(event).__name__} {event.node}", ",".join(running), panel.text()))
        panel.sync()
        return panel

    return asyncio.run(go()), seen


def lesson_agent(lesson: Any) -> Any:
    return lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], system="Answer briefly.", checkpointer=checkpoints.memory_saver())


@pytest.mark.parametrize("via", ["astream", "astream_events"])
def test_the_running_node_follows_a_replayed_agent_run(tmp_path: Path, via: str) -> None:
    panel, seen = replay(tmp_path, via, lesson_agent)
    assert [(what, running) for what, running, _ in seen] == [
        ("NodeStart llm", "llm"), ("NodeEnd llm", ""), ("NodeStart action", "action"), ("NodeEnd action", ""),
        ("NodeStart llm", "llm"), ("NodeEnd llm", ""),
    ]
    assert seen[2][2] == "graph: __start__ → llm → action · running: action"
    assert panel.text() == "graph: __start__ → llm → action → llm → __end__ · done"
    assert panel.visits == {START: 1, "llm": 2, "action": 1, END: 1} and set(panel.states.values()) == {"done"}
    assert panel.highlight().taken == {(START, "llm"), ("llm", "action"), ("action", "llm"), ("llm", END)}
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == panel.text() and bundle["image/svg+xml"].startswith("<svg")
    mermaid = bundle["text/vnd.mermaid"]
    assert mermaid.startswith("---") and "\tclass action lkdone" in mermaid and "classDef lkdone" in mermaid


def test_subgraph_nodes_light_up_with_xray(tmp_path: Path) -> None:
    panel, seen = replay(tmp_path, "astream", lambda lesson: build(lesson, checkpoints.memory_saver()), xray=True)
    assert [running for _, running, _ in seen if running] == ["progress", "research:llm", "research:action", "research:llm"]
    assert panel.text() == ("graph: __start__ → progress → research:__start__ → research:llm → research:action → research:llm"
                            " → research:__end__ → __end__ · done")
    plain, _ = replay(tmp_path / "plain", "astream", lambda lesson: build(lesson, checkpoints.memory_saver()))
    assert plain.text() == "graph: __start__ → progress → research → __end__ · done"


def test_a_stopped_run_says_where_it_stopped() -> None:
    panel = GraphPanel()
    panel.layout = layout([START, "llm", "action", END], AGENT_EDGES)
    assert panel.text() == "graph: __start__, llm, action, __end__ · not run yet"
    for event in [RunStart(t=0, run_id="r", thread_id="t", source="astream"), NodeStart(t=0.1, node="llm", step=1, task_id="a"),
                  RunEnd(t=0.5, run_id="r", status="cancelled")]:
        panel.on_event(event)
    assert panel.text() == "graph: __start__ → llm · stopped in llm" and panel.states["llm"] == "halted"
    panel.on_event(RunStart(t=0, run_id="r2", thread_id="t", source="astream"))  # the next run starts afresh
    panel.on_event(NodeEnd(t=0.2, node="llm", step=None, task_id=""))  # astream without tasks: only ends
    assert panel.text() == "graph: __start__ → llm · running" and panel.states["llm"] == "done"


def test_something_without_a_graph_still_makes_a_panel() -> None:
    panel = GraphPanel(object())
    assert panel.text() == "graph: object has no drawable graph (AttributeError)" and panel.svg() == ""
    assert panel.widget.layout.display == "none"  # a dashboard shows no empty box for it
    assert "text/vnd.mermaid" not in panel._repr_mimebundle_() and not panel.on_event(NodeStart(t=0, node="x", step=1, task_id="a"))


def test_a_dashboard_with_graph_lights_the_running_node_and_a_plain_one_has_no_graph(tmp_path: Path) -> None:
    """``Dashboard(graph=True)`` feeds the graph panel the run it streams; the default dashboard leaves it out."""
    from lessonkit.panels import Dashboard

    lesson = lessonkit.start("streams", mode="replay", recordings_dir=recorded(tmp_path), announce=False)
    agent = lesson_agent(lesson)
    seen: list[str] = []

    async def go() -> tuple[Dashboard, Dashboard]:
        dash = Dashboard(graph=True)
        task = dash.start(agent, QUESTION, {"configurable": {"thread_id": "t"}})
        while not task.done():
            seen.append(dash.graph_panel.state_text())
            await asyncio.sleep(0)
        await dash.wait()
        return dash, Dashboard()

    dash, plain = asyncio.run(go())
    assert "running: action" in seen and "running: llm" in seen
    assert dash.graph_panel.text() == "graph: __start__ → llm → action → llm → __end__ · done"
    assert dash.graph_panel.widget in dash.widget.children[2].children
    assert plain.graph_panel is None and len(plain.live_panels) == 3 and len(plain.widget.children[2].children) == 2
