"""Serve a LangGraph graph over SSE and WebSocket with its threads: ``create_app(graph, checkpointer)``.

``lessonkit serve`` runs the lesson agent with it; the event schema is in ``docs/serving.md``. Names
are imported on first use, so ``lessonkit doctor`` does not pay for importing FastAPI.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "app", "create_app_with": "app", "ServeSettings": "settings",
    "background": "background", "BackgroundServer": "background", "ServedAgent": "client",
    "LOCAL_USER": "identity", "ThreadKey": "identity", "current_user": "identity", "stored_thread_id": "identity",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lessonkit.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
