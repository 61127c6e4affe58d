"""The fault matrix (docs/reliability.md): provoke each fault, check the message and that nothing saved is lost."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

import lessonkit
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from lessonkit.harness.recording import Cassette, RecordingTransport, ReplayTransport, Reply, Script
from tests.conftest import ROOT
from tests.openai_server import LocalServer

LONG = " ".join(f"word{n}" for n in range(300))


def restart_recording(folder: Path) -> None:
    """Turn 1, a slow turn 2 (killed mid-stream later), and turn 3 as it is sent after the restart."""
    script = Script(replies=[Reply(content="Answer one."), Reply(content="Answer one."), Reply(content=LONG), Reply(content="Answer three.")], note="fault test")
    lesson = lessonkit.Lesson("restart", "record", 0.0, Cassette(folder / "restart.json"), script=script)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="Be brief.")
    x, y = {"configurable": {"thread_id": "x"}}, {"configurable": {"thread_id": "y"}}
    graph.invoke({"messages": [HumanMessage("one")]}, x)
    graph.invoke({"messages": [HumanMessage("one")]}, y)
    graph.invoke({"messages": [HumanMessage("two")]}, y)
    graph.invoke({"messages": [HumanMessage("two"), HumanMessage("three")]}, x)


KERNEL = textwrap.dedent('''
    import sys, lessonkit
    from lessonkit import checkpoints
    from langchain_core.messages import HumanMessage
    lesson = lessonkit.start("restart", mode="replay", speed=1.0, recordings_dir=sys.argv[1], announce=False)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.sqlite_saver(sys.argv[2]), system="Be brief.")
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [HumanMessage("one")]}, config)
    for chunk, meta in graph.stream({"messages": [HumanMessage("two")]}, config, stream_mode="messages"):
        if chunk.content:
            print("STREAMING", flush=True)
''')


def test_kernel_killed_mid_turn_then_the_thread_continues(tmp_path: Path) -> None:
    folder, db = tmp_path / "recordings", tmp_path / "threads.db"
    restart_recording(folder)
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, str(folder), str(db)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert kernel.stdout is not None
    assert kernel.stdout.readline().strip() == "STREAMING"  # turn 2 is mid-answer
    kernel.send_signal(signal.SIGKILL)  # what a kernel restart does to a running cell
    kernel.wait(timeout=30)

    lesson = lessonkit.start("restart", mode="replay", recordings_dir=folder, announce=False)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.sqlite_saver(db), system="Be brief.")
    config = {"configurable": {"thread_id": "t"}}
    assert [m.content for m in graph.get_state(config).values["messages"]] == ["one", "Answer one.", "two"]
    graph.invoke({"messages": [HumanMessage("three")]}, config)
    assert [m.content for m in graph.get_state(config).values["messages"]] == ["one", "Answer one.", "two", "three", "Answer three."]


def error_body(status: int, message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()


def record_statuses(tmp_path: Path, statuses: list[int]) -> Path:
    """Record a call against a local server that answers with these statuses in turn (200 = an answer)."""
    replies = iter(statuses)

    def respond(path: str, body: dict[str, Any]) -> Any:
        status = next(replies)
        if status == 200:
            completion = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Recovered."}, "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
            return 200, "application/json", [json.dumps(completion).encode()]
        kinds = {401: "invalid_request_error", 429: "rate_limit_error", 500: "server_error"}
        return status, "application/json", [error_body(status, f"status {status} from the test server", kinds[status])]

    server = LocalServer(respond)
    path = tmp_path / "recordings" / "errors.json"
    model = ChatOpenAI(model="gpt-4o", api_key="test-key", base_url=server.url, max_retries=2,
                       http_client=httpx.Client(transport=RecordingTransport(Cassette(path))))
    try:
        model.invoke("hi")
    except openai.APIStatusError:
        pass
    finally:
        server.stop()
    return path


def replayed_model(path: Path) -> ChatOpenAI:
    transport = ReplayTransport(Cassette(path))
    return ChatOpenAI(model="gpt-4o", api_key="replay-mode-no-key", max_retries=2, http_client=httpx.Client(transport=transport),
                      http_async_client=httpx.AsyncClient(transport=transport))


def test_recorded_429_then_success_replays_the_retry(tmp_path: Path) -> None:
    path = record_statuses(tmp_path, [429, 200])
    statuses = [i["response"]["status"] for i in json.loads(path.read_text())["interactions"]]
    assert statuses == [429, 200]  # the retry is part of the recording
    assert replayed_model(path).invoke("hi").content == "Recovered."


@pytest.mark.parametrize("status, error, hint", [
    (500, openai.InternalServerError, "the model's server failed (500) on every retry"),
    (429, openai.RateLimitError, "the model answered 429 (rate limit or quota) on every retry"),
    (401, openai.AuthenticationError, "the API key was refused (401): check OPENAI_API_KEY in .env"),
])
def test_recorded_errors_give_a_clear_message_in_cell_and_panel(tmp_path: Path, status: int, error: type, hint: str) -> None:
    attempts = 1 if status == 401 else 3  # 401 is not retried; 429 and 500 are, twice
    path = record_statuses(tmp_path, [status] * attempts)
    assert len(json.loads(path.read_text())["interactions"]) == attempts
    with pytest.raises(error, match=f"status {status} from the test server"):
        replayed_model(path).invoke("hi")

    async def in_dashboard() -> Dashboard:
        graph = lessonkit.build_agent(replayed_model(path), [], checkpointer=checkpoints.memory_saver(), system="")
        dash = Dashboard()
        with pytest.raises(error):
            await dash.run(graph, {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "e"}})
        return dash

    dash = asyncio.run(in_dashboard())
    assert hint in dash.status.value and dash.runs[-1][-1].status == "error"


def test_a_recording_made_for_another_model_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    lesson = lessonkit.Lesson("m", "record", 0.0, Cassette(folder / "m.json"), script=Script(replies=[Reply(content="hi")]))
    lesson.chat_model("gpt-4o").invoke("hello")
    replay = lessonkit.start("m", mode="replay", recordings_dir=folder, announce=False)
    with pytest.raises(lessonkit.RecordingMissError, match="model: recorded 'gpt-4o' ≠ requested 'gpt-4o-mini'"):
        replay.chat_model("gpt-4o-mini").invoke("hello")


def test_missing_thread_id_with_a_checkpointer_fails_clearly_and_keeps_threads(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    lesson = lessonkit.Lesson("t", "record", 0.0, Cassette(folder / "t.json"), script=Script(replies=[Reply(content="kept")]))
    saver = checkpoints.sqlite_saver(tmp_path / "t.db")
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=saver)
    graph.invoke({"messages": [HumanMessage("hello")]}, {"configurable": {"thread_id": "1"}})
    with pytest.raises(ValueError, match="thread_id"):
        graph.invoke({"messages": [HumanMessage("hello")]}, {})
    assert [m.content for m in checkpoints.thread_messages(saver, "1")] == ["hello", "kept"]
    with pytest.raises(lessonkit.ThreadNotFoundError, match="thread 'nope' has no checkpoints.*known threads: '1'"):
        checkpoints.thread_messages(saver, "nope")
    assert graph.get_state({"configurable": {"thread_id": "nope"}}).values == {}  # LangGraph: an unknown thread is empty


def test_unwritable_database_path_says_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(lessonkit.CheckpointPathError, match="Create the folder or pick a writable path"):
        checkpoints.sqlite_saver(blocker / "threads.db")


def test_replayed_errors_wait_speed_times_the_recorded_retry_delay() -> None:
    from lessonkit.harness.recording.transports import serve
    from lessonkit.harness.recording.wire import ChatResponse

    error = ChatResponse(status=429, error_body="{}", captured_as="json", headers={"retry-after": "2"})
    assert serve(error, {}, 0.0, "sync").headers["retry-after-ms"] == "1"
    assert serve(error, {}, 0.5, "sync").headers["retry-after-ms"] == "1000"
    assert serve(error, {}, 1.0, "sync").headers["retry-after-ms"] == "2000"


def test_a_hanging_tool_times_out_into_an_error_the_model_sees(tmp_path: Path) -> None:
    import threading

    from langchain_core.tools import tool
    from lessonkit.harness.recording import ScriptedCall

    release = threading.Event()

    @tool
    def stuck(query: str) -> str:
        """A tool that never answers (until the test releases it)."""
        release.wait(30)
        return "too late"

    @tool
    async def astuck(query: str) -> str:
        """The async twin."""
        await asyncio.sleep(30)
        return "too late"

    def script() -> Script:
        return Script(replies=[Reply(tool_calls=(ScriptedCall("stuck", {"query": "q"}, "call_s"),)), Reply(content="The tool timed out, sorry.")])

    lesson = lessonkit.Lesson("hang", "record", 0.0, Cassette(tmp_path / "hang.json"), script=script())
    graph = lessonkit.build_agent(lesson.chat_model(), [stuck], checkpointer=checkpoints.memory_saver(), system="", tool_timeout=0.2)
    result = graph.invoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "h"}})
    release.set()
    timed_out = result["messages"][2]
    assert timed_out.status == "error" and timed_out.content == "Error: TimeoutError: tool 'stuck' gave no answer within 0.2 s"
    assert result["messages"][-1].content == "The tool timed out, sorry."

    astuck.name = "stuck"
    lesson = lessonkit.Lesson("hang2", "record", 0.0, Cassette(tmp_path / "hang2.json"), script=script())
    agraph = lessonkit.build_agent(lesson.chat_model(), [astuck], checkpointer=checkpoints.memory_saver(), system="", tool_timeout=0.2)
    aresult = asyncio.run(agraph.ainvoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "h"}}))
    assert aresult["messages"][2].content == "Error: TimeoutError: tool 'stuck' gave no answer within 0.2 s"
    assert aresult["messages"][-1].content == "The tool timed out, sorry."
