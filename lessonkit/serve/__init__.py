"""Serve a LangGraph graph over SSE and WebSocket with its threads: ``create_app(graph, checkpointer)``.

``lessonkit serve`` runs the lesson agent with it; the event schema is in ``docs/serving.md``. Names
are imported on first use, so ``lessonkit doctor`` does not pay for importing FastAPI.
"""
from __future__ import annotations

from lessonkit.support.lazy import lazy_exports

_EXPORTS = {
    "create_app": ".app", "create_app_with": ".app", "ServeSettings": ".settings",
    "background": ".background", "BackgroundServer": ".background", "ServedAgent": ".client",
    "LOCAL_USER": ".identity", "ThreadKey": ".identity", "current_user": ".identity", "stored_thread_id": ".identity",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
