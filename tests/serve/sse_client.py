"""Reading the server's streams in tests: parsed SSE (httpx-sse) and raw lines, both bounded."""
from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
from httpx_sse import EventSource

MAX_EVENTS = 5000


def read_events(response: httpx.Response | Iterator[Any], limit: int = MAX_EVENTS) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    """(id, event) pairs until ``[DONE]``; and whether ``[DONE]`` came. Heartbeat comments are skipped.

    Pass the ``iter_sse()`` iterator itself to go on reading a stream already partly read (leaving an
    httpx-sse iterator closes the response, which the server sees as a disconnect).
    """
    out: list[tuple[int, dict[str, Any]]] = []
    sses = EventSource(response).iter_sse() if isinstance(response, httpx.Response) else response
    for count, sse in enumerate(sses):
        if not sse.data:  # a heartbeat comment (httpx-sse keeps the last id on it)
            continue
        if sse.data == "[DONE]":
            return out, True
        out.append((int(sse.id), json.loads(sse.data)))
        if count > limit:
            break
    return out, False


def stream(client: httpx.Client, thread: str, headers: dict[str, str] | None = None, **body: Any) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    with client.stream("POST", f"/threads/{thread}/runs/stream", json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response)


def rejoin(client: httpx.Client, thread: str, last_event_id: int | None) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    with client.stream("GET", f"/threads/{thread}/runs/stream", headers=headers) as response:
        assert response.status_code == 200, response.read()
        return read_events(response)


def types(events: list[tuple[int, dict[str, Any]]]) -> list[str]:
    return [e["type"] for _, e in events]
