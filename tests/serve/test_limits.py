"""Limits against a real server: message size (422), body size (413), open streams (503 + Retry-After), CORS."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from lessonkit.serve import ServeSettings
from lessonkit.serve.limits import is_stream_request

from .conftest import Served, serve, wait_until
from .fakes import Gate
from .sse_client import stream
from .test_run_control import gated_app

SETTINGS = ServeSettings(heartbeat_s=0.05, run_timeout_s=60, max_streams=2, retry_after_s=7)
ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(autouse=True)
def closed_gate(gate: Gate):
    gate.reset()
    yield
    gate.open()


@pytest.fixture(scope="module")
def served(module_tmp: Path, gate: Gate):
    with serve(gated_app(module_tmp / "limits.db", gate, SETTINGS)) as running:
        yield running


def test_a_message_of_10000_characters_is_accepted_and_10001_is_422(served: Served, gate: Gate) -> None:
    gate.open()
    with served.client() as client:
        events, done = stream(client, "size-1", message="x" * 10_000)
        assert done and events[-1][1]["status"] == "done"
        refused = client.post("/threads/size-1/runs/stream", json={"message": "x" * 10_001})
    assert refused.status_code == 422
    assert refused.json()["detail"] == ("message is 10,001 characters long; this server accepts at most 10,000. "
                                        "Send a shorter message, or split it over several turns.")


def test_the_websocket_has_the_same_message_limit(served: Served) -> None:
    async def talk() -> dict[str, Any]:
        async with websockets.connect(f"{served.ws_url}/threads/size-ws/ws", open_timeout=10) as socket:
            await socket.send(json.dumps({"type": "message", "message": "y" * 10_001}))
            return json.loads(await asyncio.wait_for(socket.recv(), 20))

    reply = asyncio.run(talk())
    assert reply["type"] == "error" and reply["run_id"] is None and "10,001 characters" in reply["message"]


def test_a_body_over_the_limit_is_413_before_it_is_read(served: Served) -> None:
    big = json.dumps({"message": "hi", "resume": "z" * SETTINGS.max_body_bytes}).encode()

    def chunks():
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    with served.client() as client:
        declared = client.post("/threads/body-1/runs/stream", content=big, headers={"Content-Type": "application/json"})
        chunked = client.post("/threads/body-1/runs/stream", content=chunks(), headers={"Content-Type": "application/json"})
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert f"larger than {SETTINGS.max_body_bytes:,} bytes" in response.json()["detail"]


def _handshake(url: str) -> tuple[int, dict[str, str]]:
    async def attempt() -> tuple[int, dict[str, str]]:
        try:
            async with websockets.connect(url, open_timeout=10):
                return 101, {}
        except InvalidStatus as refused:
            return refused.response.status_code, dict(refused.response.headers)

    return asyncio.run(attempt())


def test_the_stream_limit_is_503_with_retry_after_and_frees_its_slots(served: Served, gate: Gate) -> None:
    results: list[Any] = []

    def hold(thread: str) -> None:
        with served.client() as client:
            results.append(stream(client, thread, message=f"gated hold {thread}"))

    holders = [threading.Thread(target=hold, args=(f"hold-{i}",)) for i in range(SETTINGS.max_streams)]
    for holder in holders:
        holder.start()
    wait_until(lambda: gate.waiting == SETTINGS.max_streams, "both streams to wait at the gate")
    with served.client() as client:
        refused = client.post("/threads/third/runs/stream", json={"message": "one too many"})
        rejoin = client.get("/threads/hold-0/runs/stream")
        assert client.get("/threads").status_code == 200  # only streams are limited
        health = client.get("/health").json()
    status, headers = _handshake(f"{served.ws_url}/threads/third/ws")
    gate.open()
    for holder in holders:
        holder.join(timeout=30)
    for response in (refused, rejoin):
        assert response.status_code == 503 and response.headers["retry-after"] == "7"
        assert "2 streams open" in response.json()["detail"] and "Retry-After" in response.json()["detail"]
    assert status == 503 and headers.get("retry-after") == "7"
    assert health["streams_in_use"] == 2 and health["max_streams"] == 2 and health["status"] == "degraded"
    assert any("2 of 2 streams in use" in reason for reason in health["reasons"])
    assert len(results) == 2 and all(done for _, done in results)
    with served.client() as client:
        wait_until(lambda: client.get("/health").json()["streams_in_use"] == 0, "the slots to be given back")
        events, done = stream(client, "third", message="now there is room")
        assert client.get("/threads/third/history").status_code == 200  # the refused request had started no run
    assert done and events[-1][1]["status"] == "done"


@pytest.mark.parametrize("scope, expected", [
    ({"type": "http", "method": "POST", "path": "/threads/a/runs/stream"}, True),
    ({"type": "http", "method": "GET", "path": "/threads/a/runs/stream"}, True),
    ({"type": "http", "method": "GET", "path": "/threads/a/runs/r-1/stream"}, True),
    ({"type": "websocket", "path": "/threads/a/ws"}, True),
    ({"type": "http", "method": "GET", "path": "/threads/a/history"}, False),
    ({"type": "http", "method": "OPTIONS", "path": "/threads/a/runs/stream"}, False),
    ({"type": "http", "method": "GET", "path": "/threads"}, False),
])
def test_which_requests_take_a_stream_slot(scope: dict[str, Any], expected: bool) -> None:
    assert is_stream_request(scope) is expected


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options("/threads/c-1/runs/stream", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})


def test_cors_is_off_unless_configured(served: Served) -> None:
    with served.client() as client:
        preflight = _preflight(client, ORIGIN)
        simple = client.get("/threads", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in preflight.headers and preflight.status_code == 405
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_cors_allows_exactly_the_configured_origins(module_tmp: Path, gate: Gate) -> None:
    settings = dataclasses.replace(SETTINGS, cors_origins=(ORIGIN,))
    with serve(gated_app(module_tmp / "cors.db", gate, settings)) as running, running.client() as client:
        preflight = _preflight(client, ORIGIN)
        simple = client.get("/threads", headers={"Origin": ORIGIN})
        stranger = client.get("/threads", headers={"Origin": "http://evil.example"})
        stranger_preflight = _preflight(client, "http://evil.example")
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-lessonkit-run-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers
    assert stranger_preflight.status_code == 400 and "access-control-allow-origin" not in stranger_preflight.headers


@pytest.mark.parametrize("bad, problem", [
    ({"cors_origins": ("http://localhost:3000/",)}, "not an origin"),
    ({"cors_origins": "http://localhost:3000"}, "not one string"),
    ({"max_streams": 0}, "max_streams"),
    ({"max_message_chars": 10_000, "max_body_bytes": 1000}, "max_body_bytes"),
])
def test_settings_refuse_bad_limits(bad: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ServeSettings(**bad)
