"""/health: the status rule (pure), the request middleware (pure ASGI, unbuffered), and the figures on a real server."""
from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lessonkit.serve.metrics import (
    MIN_SAMPLE,
    Metrics,
    MetricsMiddleware,
    health_status,
    percentile,
    timing,
)

from .conftest import Served, lesson_served, wait_until
from .lesson_recording import QUESTION
from .sse_client import stream, types

# --- the rule, pure ---------------------------------------------------------------------------

def test_healthy_with_no_traffic_and_with_few_outcomes() -> None:
    assert health_status([], [], 0, 100) == ("healthy", [])
    assert health_status([False] * (MIN_SAMPLE - 1), [False] * (MIN_SAMPLE - 1), 0, 100) == ("healthy", [])


@pytest.mark.parametrize("failures, status", [(0, "healthy"), (5, "healthy"), (6, "degraded"), (100, "degraded")])
def test_degraded_below_95_percent_of_the_recent_requests(failures: int, status: str) -> None:
    outcomes = [True] * (100 - failures) + [False] * failures
    got, reasons = health_status(outcomes, [], 0, 100)
    assert got == status and (reasons == []) == (status == "healthy")
    if reasons:
        assert f"{100 - failures}% of the last 100 HTTP requests succeeded" in reasons[0]


def test_failed_runs_and_a_full_stream_table_also_degrade() -> None:
    status, reasons = health_status([True] * 50, [True] * 15 + [False] * 5, 90, 100)
    assert status == "degraded" and len(reasons) == 2
    assert "75% of the last 20 runs" in reasons[0] and "90 of 100 streams in use" in reasons[1]
    assert health_status([True] * 50, [True] * 20, 89, 100)[0] == "healthy"
    assert health_status([True], [], 5, None)[0] == "healthy"  # no limit: nothing to be near


def test_request_outcomes_ok_rejected_failed() -> None:
    metrics = Metrics()
    for status in (200, 204, 304, 401, 404, 422, 500, 503, None):
        metrics.record_http(status, 0.1)
    metrics.record_http(200, 2.0, stream=True)
    snap = metrics.snapshot(max_streams=10)
    assert (snap["requests_total"], snap["requests_ok"], snap["requests_rejected"], snap["requests_failed"]) == (10, 4, 3, 3)
    assert snap["success_rate"] == 0.7
    assert snap["response_times"]["stream"] == {"count": 1, "mean_s": 2.0, "p95_s": 2.0}
    assert snap["response_times"]["api"]["count"] == 9 and snap["response_time_p95_s"] == 2.0
    assert set(metrics.errors) == {"HTTP 401", "HTTP 404", "HTTP 422", "HTTP 500", "HTTP 503", "HTTP no response"}
    assert len(snap["top_errors"]) == 5  # the five most frequent


def test_percentile_and_timing() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0 and percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    assert timing([]) == {"count": 0, "mean_s": None, "p95_s": None}


# --- the middleware, pure ASGI ------------------------------------------------------------------

def _scope(metrics: Metrics, path: str = "/threads") -> dict[str, Any]:
    app = SimpleNamespace(state=SimpleNamespace(lessonkit=SimpleNamespace(metrics=metrics)))
    return {"type": "http", "method": "GET", "path": path, "app": app, "headers": []}


def test_the_middleware_passes_each_chunk_on_at_once_and_times_the_whole_stream() -> None:
    metrics = Metrics()
    seen: list[Any] = []

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for n in range(3):
            await send({"type": "http.response.body", "body": f"data: {n}\n\n".encode(), "more_body": True})
            assert seen[-1]["body"] == f"data: {n}\n\n".encode()  # the client has it before the app goes on
            assert metrics.requests_total == 0  # and the request is not over yet
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def send(message: Any) -> None:
        seen.append(message)

    asyncio.run(MetricsMiddleware(streaming)(_scope(metrics), None, send))
    assert metrics.requests_ok == 1 and metrics.snapshot()["response_times"]["stream"]["count"] == 1


def test_the_middleware_counts_a_crash_as_a_500_and_skips_health() -> None:
    metrics = Metrics()

    async def crashing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: Any) -> None:
        pass

    with pytest.raises(RuntimeError):
        asyncio.run(MetricsMiddleware(crashing)(_scope(metrics), None, send))
    asyncio.run(MetricsMiddleware(ok)(_scope(metrics, "/health"), None, send))
    assert metrics.requests_total == 1 and metrics.requests_failed == 1 and metrics.errors["HTTP 500"] == 1


# --- the figures on a real server --------------------------------------------------------------

@pytest.fixture(scope="module")
def served(module_tmp: Path):
    with lesson_served(module_tmp / "recordings", module_tmp / "health.db") as running:
        yield running


def test_health_figures_after_a_few_requests(served: Served) -> None:
    with served.client() as client:
        first = client.get("/health").json()
        assert first["requests_total"] == 0 and first["status"] == "healthy" and first["success_rate"] == 1.0
        events, done = stream(client, "health-1", message=QUESTION)  # 1: a stream, with a tool call
        assert done and "tool_call" in types(events)
        failed, _ = stream(client, "health-2", message="a question nobody recorded")  # 2: a run that fails
        assert client.get("/threads").status_code == 200  # 3
        assert client.get("/threads/nobody/history").status_code == 404  # 4
        assert client.post("/threads/health-1/runs/stream", json={"message": ""}).status_code == 422  # 5
        wait_until(lambda: client.get("/health").json()["requests_total"] == 5, "the streams to be counted")
        health = client.get("/health").json()
    assert failed[-1][1]["type"] == "error" and failed[-1][1]["error"] == "failed"
    assert (health["requests_ok"], health["requests_rejected"], health["requests_failed"]) == (3, 2, 0)
    assert health["success_rate"] == 1.0 and health["status"] == "healthy" and health["reasons"] == []
    assert health["response_times"]["stream"]["count"] == 2 and health["response_times"]["api"]["count"] == 3
    assert health["response_time_mean_s"] > 0 and health["response_time_p95_s"] >= health["response_time_mean_s"]
    assert health["runs"]["total"] == 2 and health["runs"]["ok"] == 1 and health["runs"]["failed"] == 1
    assert health["tool_usage"] == {"tavily_search": 1}
    errors = {e["error"]: e["count"] for e in health["top_errors"]}
    assert errors["HTTP 404"] == 1 and errors["HTTP 422"] == 1 and any(e.startswith("run: ") for e in errors)
    assert health["active_streams"] == 0 and health["streams_in_use"] == 0 and health["active_runs"] == 0
    assert health["max_streams"] == 100
