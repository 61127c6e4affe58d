"""``/info`` (what this server is) and ``/health`` (how it is doing, the manual's metrics)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lessonkit import __version__

from .events import CORE_TYPES, EXTRAS
from .identity import current_user
from .state import server

router = APIRouter(tags=["service"])


@router.get("/info")
async def info(request: Request, user: str = Depends(current_user)) -> dict[str, Any]:
    """Service name and version, the graph served, the streaming settings and the endpoints."""
    state = server(request)
    s = state.settings
    return {
        "service": {"name": s.service_name, "version": __version__, "graph": getattr(state.graph, "name", None)},
        "user": user,
        **state.info,
        "streaming": {"events": list(CORE_TYPES), "stream_mode_extras": list(EXTRAS), "heartbeat_s": s.heartbeat_s,
                      "run_timeout_s": s.run_timeout_s, "multitask": s.multitask, "on_disconnect": s.on_disconnect,
                      "retain_finished_s": s.retain_finished_s},
        "endpoints": {
            "stream": "POST /threads/{thread_id}/runs/stream", "rejoin": "GET /threads/{thread_id}/runs/stream",
            "rejoin_run": "GET /threads/{thread_id}/runs/{run_id}/stream", "websocket": "WS /threads/{thread_id}/ws",
            "threads": "GET /threads", "history": "GET /threads/{thread_id}/history", "state": "GET /threads/{thread_id}/state",
            "clear": "PUT /threads/{thread_id}/clear", "delete": "DELETE /threads/{thread_id}",
            "fork": "POST /threads/{thread_id}/fork", "health": "GET /health",
        },
    }


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Requests, runs, response times, tool usage, top errors, open streams, and ``healthy`` or ``degraded``.

    Public (no token), like a load balancer's probe: it shows counts only, never a thread, user or
    message. The rule for ``degraded`` is ``metrics.health_status`` (docs/serving.md).
    """
    state = server(request)
    return {**state.metrics.snapshot(state.settings.max_streams), "active_runs": state.manager.active_count}
