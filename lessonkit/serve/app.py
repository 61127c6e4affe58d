"""The FastAPI app factory: any compiled graph and checkpointer, served with the lessonkit event schema.

``create_app(graph, checkpointer)`` serves objects the caller owns (a notebook, a test) and never
closes them. ``create_app_with(open_resources)`` takes an async context manager that opens the graph
and saver inside the server's own event loop (an aiosqlite saver belongs to the loop that made it) and
closes them at shutdown: that is what ``lessonkit serve`` uses. Either way the lifespan stops every
run before the saver goes away.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, AsyncContextManager

from fastapi import FastAPI

from lessonkit import __version__

from . import routes_meta, routes_page, routes_runs, routes_threads, routes_ws
from .errors import install_error_handlers
from .guards import install_guards
from .metrics import Metrics
from .run_manager import RunManager
from .settings import ServeSettings
from .state import ServerState

Resources = tuple[Any, Any]  # (compiled graph, checkpointer)
OpenResources = Callable[[], AsyncContextManager[Resources]]


def create_app(graph: Any, checkpointer: Any = None, *, settings: ServeSettings | None = None,
               info: dict[str, Any] | None = None) -> FastAPI:
    """An app serving ``graph`` (compiled with ``checkpointer``, or pass it here); closes neither."""
    saver = checkpointer if checkpointer is not None else getattr(graph, "checkpointer", None)
    if saver is None:
        raise ValueError("the served graph needs a checkpointer (threads live in it): compile it with one, "
                         "e.g. checkpointer=await lessonkit.checkpoints.async_sqlite_saver('serve.db').")

    @contextlib.asynccontextmanager
    async def given() -> AsyncIterator[Resources]:
        yield graph, saver

    return create_app_with(given, settings=settings, info=info)


def create_app_with(open_resources: OpenResources, *, settings: ServeSettings | None = None,
                    info: dict[str, Any] | None = None) -> FastAPI:
    """An app whose graph and saver are opened by ``open_resources`` at startup and closed at shutdown."""
    settings = settings or ServeSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources() as (graph, checkpointer):
            metrics = Metrics()
            manager = RunManager(graph, checkpointer, settings, metrics)
            app.state.lessonkit = ServerState(graph, checkpointer, settings, manager, metrics, dict(info or {}))
            try:
                yield
            finally:
                await manager.aclose()  # runs end (and release their thread locks) before the saver closes

    app = FastAPI(title="lessonkit serve", version=__version__, lifespan=lifespan,
                  description="The lesson agent over SSE and WebSocket, with its threads. Event schema: docs/serving.md.")
    install_error_handlers(app)
    install_guards(app, settings)  # limits, redaction, CORS (if configured), request metrics, OpenAPI auth/errors
    for module in (routes_runs, routes_ws, routes_threads, routes_meta, routes_page):
        app.include_router(module.router)
    return app
