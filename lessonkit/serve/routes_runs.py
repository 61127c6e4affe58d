"""Streaming a run over SSE: start one (POST), or rejoin one with ``Last-Event-ID`` (GET)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Request

from .errors import ApiError
from .events import parse_last_event_id
from .identity import ThreadKey, thread_key
from .run_inputs import RunBody, check_resumable, run_request
from .run_manager import Run
from .sse import SSE_HEADERS, SSEResponse, sse_stream
from .state import server

router = APIRouter(tags=["runs"])
BUSY = {409: {"description": "the thread is busy and multitask is 'reject'"}}
STREAM = {"content": {"text/event-stream": {}}, "description": "id:/data: SSE messages, then data: [DONE]"}


def _respond(request: Request, run: Run, after: int) -> SSEResponse:
    state = server(request)
    return SSEResponse(sse_stream(run, after, state.settings.heartbeat_s, state.metrics),
                       headers={**SSE_HEADERS, "X-Lessonkit-Run-Id": run.run_id})


@router.post("/threads/{thread_id}/runs/stream", responses={200: STREAM, **BUSY})
async def stream_run(body: RunBody, request: Request, key: ThreadKey = Depends(thread_key)) -> SSEResponse:
    """Run one turn (``message``) or answer an interrupt (``resume``) and stream its events.

    With ``multitask: "reject"`` a busy thread is a 409 before any stream starts; with ``"enqueue"`` the
    stream opens at once (heartbeats) and the run's events follow when the thread is free.
    """
    state = server(request)
    wanted = run_request(body, key, state.settings)
    await check_resumable(state.graph, wanted)
    run = state.manager.start(wanted)
    if wanted.multitask == "reject":
        await run.wait_for_lock()
    return _respond(request, run, 0)


def _after(last_event_id: str | None) -> int:
    try:
        return parse_last_event_id(last_event_id)
    except ValueError as error:
        raise ApiError(422, str(error)) from None


@router.get("/threads/{thread_id}/runs/stream", responses={200: STREAM})
async def rejoin_latest(request: Request, key: ThreadKey = Depends(thread_key),
                        last_event_id: str | None = Header(None, alias="Last-Event-ID")) -> SSEResponse:
    """Rejoin the thread's current (or just finished) run: the events after ``Last-Event-ID``, then the rest live."""
    after = _after(last_event_id)
    run = server(request).manager.latest(key)
    if run is None:
        raise ApiError(404, f"no run to rejoin on thread {key.thread_id!r}: none is running, and the last one ended "
                            "longer ago than the server keeps events. Read GET /threads/{thread_id}/history instead.")
    return _respond(request, run, after)


@router.get("/threads/{thread_id}/runs/{run_id}/stream", responses={200: STREAM})
async def rejoin_run(run_id: str, request: Request, key: ThreadKey = Depends(thread_key),
                     last_event_id: str | None = Header(None, alias="Last-Event-ID")) -> SSEResponse:
    """Rejoin one run by id (the ``run_id`` of its ``metadata`` event), as LangGraph's join-stream endpoint does."""
    after = _after(last_event_id)
    run = server(request).manager.get(run_id, key)
    if run is None:
        raise ApiError(404, f"run {run_id[:64]!r} is not known on thread {key.thread_id!r} (it ended too long ago, or "
                            "the server restarted). Read GET /threads/{thread_id}/history instead.")
    return _respond(request, run, after)
