"""Every error the API answers is JSON ``{"detail": "..."}`` that says what happened and what to do, redacted.

One table maps lessonkit's own errors to status codes (ThreadIdError 422, ThreadNotFoundError 404,
ThreadBusyError 409, ...), so routes raise what the library raises and never build responses by hand.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.routing import Match

from lessonkit.errors import ThreadBusyError, ThreadIdError, ThreadNotFoundError
from lessonkit.support.redact import redact, redact_data

from .threads import CheckpointNotFoundError

log = logging.getLogger("lessonkit.serve")


class ApiError(Exception):
    """An error a route raises with its status and a detail for the client (redacted on the way out)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


def not_found_detail(thread_id: str) -> str:
    return f"thread {thread_id!r} not found: it has no checkpoints for you. List your threads with GET /threads, or start it with POST /threads/{thread_id}/runs/stream."


def status_and_detail(error: Exception) -> tuple[int, str]:
    """The response for an error a route let through: pure, so the table is tested without a server."""
    if isinstance(error, ApiError):
        return error.status_code, error.detail
    if isinstance(error, ThreadIdError):
        return 422, str(error)
    if isinstance(error, ThreadNotFoundError):
        return 404, not_found_detail(error.thread_id)
    if isinstance(error, ThreadBusyError):
        return 409, str(error)
    if isinstance(error, CheckpointNotFoundError):
        return 404, f"checkpoint {error.args[0]!r} is not in this thread. List its checkpoints with GET /threads/{{thread_id}}/state and the history endpoints."
    return 500, f"internal error ({type(error).__name__}); the server log has the details. Try again, and report it if it persists."


def secrets(connection: HTTPConnection) -> tuple[str, ...]:
    """The server's bearer tokens: an error body or log line must not show them (handlers for a 500 run
    outside the request's ``extra_secrets`` block, so they pass them explicitly)."""
    state = getattr(connection.app.state, "lessonkit", None)
    tokens = getattr(getattr(state, "settings", None), "tokens", None)
    return tokens.secrets if tokens is not None else ()


def allowed_methods(connection: HTTPConnection) -> list[str]:
    """Every method some route serves at this request's path (what a 405's ``Allow`` must list)."""
    from .guards import flat_routes  # here: guards imports the app's modules

    methods: set[str] = set()
    for route in flat_routes(connection.app.routes):
        if getattr(route, "methods", None) and route.matches(connection.scope)[0] != Match.NONE:
            methods |= set(route.methods)
    return sorted(methods)


def _json(status: int, detail: Any, headers: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> JSONResponse:
    body = {"detail": redact(detail, extra=extra) if isinstance(detail, str) else redact_data(detail, extra=extra)}
    return JSONResponse(body, status_code=status, headers=headers)


def validation_detail(errors: list[Any]) -> str:
    """FastAPI's validation errors as one sentence per problem: where, and what is wrong."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts) + ". See /docs for the expected body."


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through ``status_and_detail`` and the redactor."""

    async def known(request: Request, error: Exception) -> JSONResponse:
        status, detail = status_and_detail(error)
        if status >= 500:
            log.error("unhandled error on %s %s: %s", request.method, request.url.path, redact(repr(error), extra=secrets(request)))
        return _json(status, detail, extra=secrets(request))

    async def validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _json(422, validation_detail(list(error.errors())), extra=secrets(request))

    async def http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        headers = dict(getattr(error, "headers", None) or {})
        if error.status_code == 405:  # Starlette names the first matching route's methods; a path may have several routes
            headers["Allow"] = ", ".join(allowed_methods(request))
        return _json(error.status_code, error.detail, headers or None, secrets(request))

    for kind in (ApiError, ThreadIdError, ThreadNotFoundError, ThreadBusyError, CheckpointNotFoundError, Exception):
        app.add_exception_handler(kind, known)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
