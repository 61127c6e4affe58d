"""The per-request guards, as one pure ASGI middleware: secrets out of everything, body size, open streams.

- **Secrets**: every request runs inside ``redact.extra_secrets(tokens)``, so each ``redact`` call on
  its way (events, error bodies, history, and the run tasks the request starts) also removes the
  server's bearer tokens; and while the app runs, a logging filter removes them (and any
  ``token=`` query value) from uvicorn's and lessonkit's log lines.
- **Body size**: a request body over ``max_body_bytes`` is a 413 before it is parsed (a declared
  ``Content-Length`` at once, a chunked body as soon as it grows past the limit).
- **Streams**: SSE stream requests and WebSockets take a slot for as long as they are open; with
  ``max_streams`` slots taken the next one gets a 503 with ``Retry-After`` (a WebSocket gets the same
  as the HTTP answer to its handshake). A slot is taken before the route runs, so a refused request
  never starts a run, and taking it is atomic (no ``await`` between the check and the count).

The message size limit (``max_message_chars``, 422) is checked where a run request is read
(``run_inputs.run_request``), the same for SSE and WebSocket.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lessonkit.support.redact import TOKEN, extra_secrets, redact

from .metrics import Metrics
from .settings import ServeSettings

STREAM_PATH = re.compile(r"/threads/[^/]+/runs/(?:[^/]+/)?stream$")
SOCKET_PATH = re.compile(r"/threads/[^/]+/ws$")
TRY_AGAIN_LATER = 1013  # WebSocket close code, for a server that cannot send an HTTP answer to a handshake
QUERY_TOKEN = re.compile(r"(?i)([?&]token=)[^&\s\"']+")
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "lessonkit", "lessonkit.serve")


def too_many_streams_detail(settings: ServeSettings) -> str:
    return (f"the server has {settings.max_streams} streams open, its limit; try again in {settings.retry_after_s} s "
            "(Retry-After), or close a stream you no longer read.")


def body_too_large_detail(settings: ServeSettings) -> str:
    return (f"the request body is larger than {settings.max_body_bytes:,} bytes, the server's limit; "
            f"a message is at most {settings.max_message_chars:,} characters.")


def is_stream_request(scope: Scope) -> bool:
    """Whether the request opens a stream: an SSE run or rejoin, or a thread's WebSocket."""
    path = scope.get("path", "")
    if scope["type"] == "websocket":
        return SOCKET_PATH.search(path) is not None
    return scope["type"] == "http" and scope.get("method") in ("GET", "POST") and STREAM_PATH.search(path) is not None


class RedactingFilter(logging.Filter):
    """Removes the server's tokens (and any ``token=`` query value) from a log record's message and arguments."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("lessonkit.serve.redact")
        self.secrets = tuple(secrets)

    def clean(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return QUERY_TOKEN.sub(lambda m: m.group(1) + TOKEN, redact(value, extra=self.secrets))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.clean(a) for a in record.args)  # uvicorn's access formatter reads them one by one
        elif isinstance(record.args, dict):
            record.args = {k: self.clean(v) for k, v in record.args.items()}
        return True


def _loggers() -> list[logging.Logger]:
    names = set(LOGGERS) | {n for n in logging.root.manager.loggerDict if n.startswith(("lessonkit.", "uvicorn."))}
    return [logging.getLogger(n) for n in sorted(names)]


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    """A JSON error answer, as an HTTP response or as the HTTP answer to a WebSocket handshake."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if scope["type"] == "websocket":
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": detail[:120]})
            return
        await send({"type": "websocket.http.response.start", "status": status, "headers": raw})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    """See the module docstring. ``settings`` is the app's; the open-stream count lives in its Metrics."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app, self.settings = app, settings
        self.secrets = settings.tokens.secrets if settings.tokens is not None else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        with extra_secrets(self.secrets):
            if scope["type"] == "http":
                declared = dict(scope.get("headers", ())).get(b"content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.settings.max_body_bytes:
                    await _answer(scope, receive, send, 413, body_too_large_detail(self.settings), {})
                    return
                receive = self._bounded(receive)
            metrics: Metrics | None = getattr(getattr(scope["app"].state, "lessonkit", None), "metrics", None)
            if metrics is None or not is_stream_request(scope):
                await self.app(scope, receive, send)
                return
            if metrics.streams_in_use >= self.settings.max_streams:
                if scope["type"] == "websocket":  # MetricsMiddleware counts HTTP answers, not handshakes
                    metrics.errors["WebSocket 503"] += 1
                await _answer(scope, receive, send, 503, too_many_streams_detail(self.settings),
                              {"Retry-After": str(self.settings.retry_after_s)})
                return
            metrics.streams_in_use += 1
            try:
                await self.app(scope, receive, send)
            finally:
                metrics.streams_in_use -= 1

    def _bounded(self, receive: Receive) -> Receive:
        limit, seen = self.settings.max_body_bytes, 0

        async def receiving() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, body_too_large_detail(self.settings))
            return message

        return receiving

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        log_filter = RedactingFilter(self.secrets)
        loggers = _loggers()
        for logger in loggers:
            logger.addFilter(log_filter)
        try:
            await self.app(scope, receive, send)
        finally:
            for logger in loggers:
                logger.removeFilter(log_filter)
