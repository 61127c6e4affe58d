"""Run control against a real server: heartbeats, Last-Event-ID, disconnects, busy threads, timeout, WS cancel.

The model is tests/serve/fakes.py's GatedModel: a message starting with "gated" waits before each
token until the test opens the gate, so every "mid-run" moment is reached by the test, not by a clock.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import websockets

from lessonkit import build_agent, checkpoints
from lessonkit.serve import ServeSettings, create_app_with

from .conftest import Served, serve, wait_until
from .fakes import Gate, GatedModel
from .sse_client import read_events, rejoin, stream, types

SETTINGS = ServeSettings(heartbeat_s=0.05, run_timeout_s=60)


def gated_app(database: Path, gate: Gate, settings: ServeSettings = SETTINGS) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def opened():
        saver = await checkpoints.async_sqlite_saver(database)
        try:
            yield build_agent(GatedModel(gate=gate), [], checkpointer=saver), saver
        finally:
            await checkpoints.close_saver(saver)

    return create_app_with(opened, settings=settings)


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(scope="module")
def served(module_tmp: Path, gate: Gate):
    with serve(gated_app(module_tmp / "gated.db", gate)) as running:
        yield running


@pytest.fixture(autouse=True)
def closed_gate(gate: Gate):
    gate.reset()
    yield
    gate.open()  # never leave a run waiting for a test that has finished


def first_token(response: Any, gate: Gate) -> tuple[int, list[tuple[int, dict[str, Any]]], Any]:
    """Let one token through and read up to it: (its id, the events so far, the iterator to read on with)."""
    from httpx_sse import EventSource

    gate.open(1)
    seen = []
    sses = EventSource(response).iter_sse()
    for count, sse in enumerate(sses):
        if not sse.data:
            continue
        event = json.loads(sse.data)
        seen.append((int(sse.id), event))
        if event["type"] == "token" or count > 50:
            break
    assert seen[-1][1]["type"] == "token"
    return seen[-1][0], seen, sses


def test_heartbeats_keep_an_idle_stream_alive(served: Served, gate: Gate) -> None:
    heartbeats, lines = 0, []
    with served.client() as client, client.stream("POST", "/threads/beat/runs/stream", json={"message": "gated beat"}) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line == ": heartbeat":
                heartbeats += 1
                if heartbeats == 2:
                    gate.open()
            if line == "data: [DONE]" or len(lines) > 5000:
                break
    assert heartbeats >= 2 and lines[-1] == "data: [DONE]"
    assert not any(line.startswith("id:") and "heartbeat" in line for line in lines)  # heartbeats carry no id


def test_last_event_id_gets_exactly_the_missed_events(served: Served, gate: Gate) -> None:
    with served.client() as client:
        with client.stream("POST", "/threads/resume-1/runs/stream", json={"message": "gated one two three", "on_disconnect": "continue"}) as response:
            last, before, _ = first_token(response, gate)
        gate.open(1)  # one more token while nobody listens
        wait_until(lambda: gate.waiting == 1, "the run to wait at the gate again")
        with client.stream("GET", "/threads/resume-1/runs/stream", headers={"Last-Event-ID": str(last)}) as response:
            gate.open()
            missed, done = read_events(response)
        full, _ = rejoin(client, "resume-1", 0)
    assert done and [i for i, _ in missed][0] == last + 1
    assert before + missed == full
    assert types(full)[-1] == "end" and full[-1][1]["status"] == "done"


def test_a_disconnect_cancels_the_run_and_the_thread_goes_on(served: Served, gate: Gate) -> None:
    with served.client() as client:
        with client.stream("POST", "/threads/drop-1/runs/stream", json={"message": "gated will be dropped"}) as response:
            first_token(response, gate)
        wait_until(lambda: client.get("/threads/drop-1/state").json().get("values") is not None, "the state")
        log: list[Any] = []
        wait_until(lambda: (log.append(rejoin(client, "drop-1", 0)[0]) or types(log[-1])[-1] in ("end", "error")), "the run to end")
        assert log[-1][-1][1] == {"type": "end", "run_id": log[-1][0][1]["run_id"], "status": "cancelled"}
        state = client.get("/threads/drop-1/state").json()
        assert [m["content"] for m in state["values"]["messages"]] == ["gated will be dropped"]  # the input checkpoint is intact
        events, done = stream(client, "drop-1", message="hello again")
        assert done and events[-1][1]["status"] == "done"
        assert [m["type"] for m in client.get("/threads/drop-1/history").json()["messages"]] == ["human", "human", "ai"]


def test_on_disconnect_continue_keeps_the_run_going(served: Served, gate: Gate) -> None:
    with served.client() as client:
        with client.stream("POST", "/threads/keep-1/runs/stream", json={"message": "gated keep going", "on_disconnect": "continue"}) as response:
            first_token(response, gate)
        gate.open()
        events, done = rejoin(client, "keep-1", 0)
        assert done and events[-1][1]["status"] == "done"
        assert client.get("/threads/keep-1/history").json()["messages"][-1]["content"] == "You said: gated keep going"


def test_busy_thread_is_409_or_waits_with_enqueue(served: Served, gate: Gate) -> None:
    results: dict[str, Any] = {}
    with served.client() as client:
        with client.stream("POST", "/threads/busy-1/runs/stream", json={"message": "gated first"}) as first:
            _, _, rest = first_token(first, gate)
            refused = client.post("/threads/busy-1/runs/stream", json={"message": "second"})
            assert refused.status_code == 409 and "'local/busy-1'" in refused.json()["detail"]
            assert client.delete("/threads/busy-1").status_code == 409

            def queued() -> None:
                with served.client() as other:
                    results["queued"] = stream(other, "busy-1", message="second", multitask="enqueue")

            waiter = threading.Thread(target=queued)
            waiter.start()
            wait_until(lambda: gate.waiting == 1, "the first run to wait")
            gate.open()
            events, done = read_events(rest)
            assert done and events[-1][1]["status"] == "done"
        waiter.join(timeout=30)
    queued_events, queued_done = results["queued"]
    assert queued_done and types(queued_events)[0] == "metadata" and queued_events[-1][1]["status"] == "done"
    assert queued_events[0][1]["multitask"] == "enqueue"


def test_a_lock_held_by_another_connection_is_409(served: Served, module_tmp: Path) -> None:
    from lessonkit.persistence.runs import thread_run

    other = checkpoints.sqlite_saver(module_tmp / "gated.db")
    try:
        with thread_run(other, "local/held-1"), served.client() as client:
            refused = client.post("/threads/held-1/runs/stream", json={"message": "hi"})
        assert refused.status_code == 409 and "busy" in refused.json()["detail"]
    finally:
        checkpoints.close_sync_saver(other)


def test_timeout_ends_with_an_error_event_then_done(module_tmp: Path) -> None:
    gate = Gate()
    settings = dataclasses.replace(SETTINGS, run_timeout_s=0.3)
    with serve(gated_app(module_tmp / "timeout.db", gate, settings)) as running, running.client() as client:
        events, done = stream(client, "slow-1", message="gated never opened")
        gate.open()
    assert done and types(events) == ["metadata", "error"]
    assert events[-1][1]["error"] == "timeout" and "0.3 s" in events[-1][1]["message"]


def test_websocket_turn_and_cancel_mid_stream(served: Served, gate: Gate) -> None:
    async def talk() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with websockets.connect(f"{served.ws_url}/threads/ws-cancel/ws", open_timeout=10) as socket:
            await socket.send(json.dumps({"type": "message", "message": "gated cancel me"}))
            gate.open(1)
            first: list[dict[str, Any]] = []
            for _ in range(50):
                first.append(json.loads(await asyncio.wait_for(socket.recv(), 20)))
                if first[-1]["type"] == "token":
                    await socket.send(json.dumps({"type": "cancel"}))
                if first[-1]["type"] in ("end", "error"):
                    break
            await socket.send(json.dumps({"type": "message", "message": "hi again"}))
            second: list[dict[str, Any]] = []
            for _ in range(50):
                second.append(json.loads(await asyncio.wait_for(socket.recv(), 20)))
                if second[-1]["type"] in ("end", "error"):
                    break
            return first, second

    first, second = asyncio.run(talk())
    assert first[0]["type"] == "metadata" and first[-1]["status"] == "cancelled"
    assert [e["event_id"] for e in first] == list(range(1, len(first) + 1))
    assert second[-1] == {"type": "end", "run_id": second[0]["run_id"], "status": "done", "event_id": len(second)}
    assert "".join(e["content"] for e in second if e["type"] == "token") == "You said: hi again"
