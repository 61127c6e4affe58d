"""The SSE response: a run's log as ``id:``/``data:`` messages, heartbeats while idle, ``data: [DONE]`` last.

``SSEResponse`` always watches for the client going away (whatever ASGI version the server speaks)
and always closes the body, so the reader leaves the run at once and ``on_disconnect="cancel"`` acts
immediately rather than when the garbage collector gets to it.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from fastapi.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from .events import DONE, HEARTBEAT, encode_sse
from .metrics import Metrics
from .run_manager import Run

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of a live stream


async def sse_stream(run: Run, after: int, heartbeat_s: float, metrics: Metrics) -> AsyncIterator[str]:
    """The run's events after id ``after``, as SSE text; ends with ``[DONE]`` once the run has ended."""
    metrics.active_streams += 1
    try:
        async with contextlib.aclosing(run.follow(after, heartbeat_s)) as items:
            async for item in items:
                yield HEARTBEAT if item is None else encode_sse(*item)
        yield DONE
    finally:
        metrics.active_streams -= 1


class SSEResponse(EventSourceResponse):
    """``text/event-stream`` that stops (and closes its body) as soon as the client disconnects."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watch_disconnect(group: anyio.abc.TaskGroup) -> None:
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch_disconnect, group)
                with contextlib.suppress(OSError):
                    await self.stream_response(send)
                group.cancel_scope.cancel()
        finally:
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()
