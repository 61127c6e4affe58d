"""The lesson agent, replayed from an authored lesson 06 recording, over SSE; then the thread API."""
from __future__ import annotations

from pathlib import Path

import pytest


from tests.postgres_server import postgres_server  # noqa: F401  (fixture)

from .conftest import Served, lesson_served
from .lesson_recording import ANSWER, QUESTION
from .sse_client import stream, types


@pytest.fixture(scope="module")
def served(module_tmp: Path):
    with lesson_served(module_tmp / "recordings", module_tmp / "serve.db") as running:
        yield running


@pytest.fixture(scope="module")
def served_on_postgres(module_tmp: Path, postgres_server):  # noqa: F811
    with lesson_served(module_tmp / "recordings-pg", postgres_server.create_database()) as running:
        yield running


def test_a_turn_streams_ids_types_and_done(served: Served) -> None:
    with served.client() as client:
        events, done = stream(client, "sse-1", message=QUESTION)
    assert done
    assert [i for i, _ in events] == list(range(1, len(events) + 1))
    kinds = types(events)
    assert kinds[0] == "metadata" and kinds[-1] == "end"
    assert events[-1][1]["status"] == "done"
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("token")
    call = next(e for _, e in events if e["type"] == "tool_call")
    assert call["name"] == "tavily_search" and call["args"] == {"query": "weather in san francisco"}
    assert "".join(e["content"] for _, e in events if e["type"] == "token") == ANSWER
    assert events[0][1]["thread_id"] == "sse-1" and events[0][1]["run_id"]


def test_raw_stream_has_id_and_data_lines_and_ends_with_done(served: Served) -> None:
    with served.client() as client, client.stream("POST", "/threads/sse-raw/runs/stream", json={"message": QUESTION}) as response:
        lines = [line for line in response.iter_lines()]
    assert lines[0] == "id: 1" and lines[1].startswith('data: {"type":"metadata"')
    assert [line for line in lines if line][-1] == "data: [DONE]"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_history_state_list_clear_fork_delete(database: str, request: pytest.FixtureRequest) -> None:
    served = request.getfixturevalue("served" if database == "sqlite" else "served_on_postgres")
    with served.client() as client:
        stream(client, "sse-2", message=QUESTION)
        history = client.get("/threads/sse-2/history").json()
        assert [m["type"] for m in history["messages"]] == ["human", "ai", "tool", "ai"]
        assert history["messages"][-1]["content"] == ANSWER and all(m["time"] for m in history["messages"])
        state = client.get("/threads/sse-2/state").json()
        assert state["next"] == [] and len(state["values"]["messages"]) == 4
        assert "sse-2" in [t["thread_id"] for t in client.get("/threads").json()["threads"]]

        cleared = client.put("/threads/sse-2/clear")
        assert cleared.status_code == 200 and cleared.json()["total_messages"] == 0
        assert "sse-2" in [t["thread_id"] for t in client.get("/threads").json()["threads"]]  # the thread is kept

        forked = client.post("/threads/sse-2/fork", json={"checkpoint_id": state["checkpoint_id"]})
        assert forked.status_code == 200, forked.text
        assert forked.json()["forked_from"] == state["checkpoint_id"] and forked.json()["checkpoint_id"] != state["checkpoint_id"]
        assert len(client.get("/threads/sse-2/history").json()["messages"]) == 4  # time travel brought the turn back
        missing = client.post("/threads/sse-2/fork", json={"checkpoint_id": "not-a-checkpoint"})
        assert missing.status_code == 404 and "checkpoint" in missing.json()["detail"]

        assert client.delete("/threads/sse-2").status_code == 204
        assert client.delete("/threads/sse-2").status_code == 404
        gone = client.get("/threads/sse-2/history")
        assert gone.status_code == 404 and "GET /threads" in gone.json()["detail"]


def test_a_new_turn_after_the_answer_needs_no_resume(served: Served) -> None:
    with served.client() as client:
        stream(client, "sse-3", message=QUESTION)
        refused = client.post("/threads/sse-3/runs/stream", json={"resume": "approve"})
    assert refused.status_code == 409 and "not waiting" in refused.json()["detail"]


@pytest.mark.parametrize("thread, why", [("bad%20id", "contains ' '"), ("x" * 129, "129 characters"), ("caf%C3%A9", "contains")])
def test_bad_thread_ids_are_422_with_what_is_allowed(served: Served, thread: str, why: str) -> None:
    with served.client() as client:
        for response in (client.get(f"/threads/{thread}/history"), client.post(f"/threads/{thread}/runs/stream", json={"message": "hi"})):
            assert response.status_code == 422
            assert why in response.json()["detail"] and "letters, digits" in response.json()["detail"]


def test_bad_bodies_are_422_saying_what_to_send(served: Served) -> None:
    with served.client() as client:
        both = client.post("/threads/ok-1/runs/stream", json={"message": "hi", "resume": "approve"})
        assert both.status_code == 422 and "exactly one" in both.json()["detail"]
        mode = client.post("/threads/ok-1/runs/stream", json={"message": "hi", "stream_mode": "everything"})
        assert mode.status_code == 422 and "stream_mode" in mode.json()["detail"]
        extra = client.post("/threads/ok-1/runs/stream", json={"message": "hi", "multitask": "interrupt"})
        assert extra.status_code == 422 and "multitask" in extra.json()["detail"]


def test_info_and_health(served: Served) -> None:
    with served.client() as client:
        info = client.get("/info").json()
        health = client.get("/health").json()
    assert info["service"]["name"] == "lessonkit-serve" and info["lesson"] == "06_serving_the_agent"
    for name in ("status", "requests_total", "requests_ok", "requests_failed", "success_rate", "response_time_mean_s",
                 "response_time_p95_s", "tool_usage", "top_errors", "active_streams"):
        assert name in health
    assert health["tool_usage"].get("tavily_search", 0) >= 1
