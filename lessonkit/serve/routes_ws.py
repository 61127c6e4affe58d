"""The WebSocket: the same run events as SSE, plus what only a two-way channel can carry mid-stream.

Client → server (JSON): ``{"type": "message", "message": ...}`` (optional ``stream_mode``, ``multitask``,
``on_disconnect`` as in the SSE body), ``{"type": "resume", "resume": "approve" | "reject" | reason}``,
``{"type": "cancel"}``. Server → client: the run's events, each with ``event_id``; a request that starts
no run (bad JSON, busy thread, nothing to cancel) gets one ``error`` event with ``run_id: null``.
The socket stays open across turns; closing it acts like an SSE disconnect (``on_disconnect``).
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from lessonkit.errors import ThreadBusyError, ThreadIdError, ThreadNotFoundError

from .errors import ApiError, status_and_detail
from .events import jsonable, with_id
from .identity import ThreadKey, check_public_thread_id, current_user
from .run_inputs import RunBody, check_resumable, run_request
from .run_manager import Run
from .state import ServerState, server

router = APIRouter(tags=["websocket"])
POLICY_VIOLATION = 1008
CODES = {404: "not_found", 409: "busy", 422: "bad_request"}


def request_error(message: str, code: str = "bad_request") -> dict[str, Any]:
    """A run-less error: the request was refused before any run started."""
    return {"type": "error", "run_id": None, "error": code, "message": message}


class SocketSession:
    """One socket on one thread: starts runs, forwards their events, cancels them."""

    def __init__(self, websocket: WebSocket, state: ServerState, key: ThreadKey) -> None:
        self.websocket, self.state, self.key = websocket, state, key
        self.forwarders: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()

    async def send(self, event: dict[str, Any]) -> None:
        async with self._send_lock:  # events of a run and replies to requests never interleave mid-frame
            await self.websocket.send_json(jsonable(event))

    async def handle(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "cancel":
            if not self.state.manager.cancel_thread(self.key):
                await self.send(request_error(f"no run is in progress on thread {self.key.thread_id!r}; nothing to cancel.", "no_run"))
            return
        if kind not in ("message", "resume"):
            await self.send(request_error("each message is a JSON object with type 'message', 'resume' or 'cancel'."))
            return
        fields = {k: v for k, v in message.items() if k != "type"}
        try:
            wanted = run_request(RunBody(**fields), self.key, self.state.settings)
            await check_resumable(self.state.graph, wanted)
            run = self.state.manager.start(wanted)
            if wanted.multitask == "reject":
                await run.wait_for_lock()
        except ValidationError as error:
            await self.send(request_error("invalid message: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())))
            return
        except (ApiError, ThreadBusyError, ThreadNotFoundError) as error:
            status, detail = status_and_detail(error)
            await self.send(request_error(detail, CODES.get(status, "failed")))
            return
        task = asyncio.create_task(self._forward(run))
        self.forwarders.add(task)
        task.add_done_callback(self.forwarders.discard)

    async def _forward(self, run: Run) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            async with contextlib.aclosing(run.follow(0, self.state.settings.heartbeat_s)) as items:
                async for item in items:
                    if item is not None:  # heartbeats: uvicorn's WebSocket pings keep the socket alive
                        await self.send(with_id(*item))

    async def close(self) -> None:
        """The client left: stop forwarding; each run then does what its ``on_disconnect`` says."""
        for task in list(self.forwarders):
            task.cancel()
        if self.forwarders:
            await asyncio.wait(list(self.forwarders), timeout=5)


@router.websocket("/threads/{thread_id}/ws")
async def thread_socket(websocket: WebSocket, thread_id: str, user: str = Depends(current_user)) -> None:
    """Runs on one thread over a WebSocket: send messages, resumes and cancels; receive the run events."""
    state = server(websocket)
    try:
        key = ThreadKey(user, check_public_thread_id(thread_id, state.settings.max_thread_id_length))
    except ThreadIdError as error:
        await websocket.close(code=POLICY_VIOLATION, reason=str(error)[:120])  # a close reason is at most 123 bytes
        return
    await websocket.accept()
    session = SocketSession(websocket, state, key)
    state.metrics.active_streams += 1
    try:
        while True:
            try:
                message = await websocket.receive_json()
            except ValueError:
                await session.send(request_error("that frame is not JSON; send a JSON object with a 'type'."))
                continue
            await session.handle(message)
    except WebSocketDisconnect:
        pass
    finally:
        state.metrics.active_streams -= 1
        await session.close()
