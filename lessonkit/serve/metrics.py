"""What /health reports: HTTP requests, runs, response times, tool usage, top errors, open streams.

Kept in memory, per server process, bounded (the last ``WINDOW`` figures of each kind). Three feeds:

- ``MetricsMiddleware`` (a pure ASGI middleware, so a streaming response passes through unbuffered)
  counts every HTTP request but ``/health`` itself (a load balancer polling it would drown the rest)
  and times it from the request's arrival to the last byte of its response: for an SSE stream, the
  end of the stream (``[DONE]``, or the client leaving), so ``response_times.stream`` is how long
  streams stay open and ``response_times.api`` how fast everything else answers. WebSockets are
  counted apart (``websockets_total``): a socket's lifetime is not a response time.
- the run manager reports each run's outcome (``record_request``: ok, cancelled, timeout, failed)
  and each tool call (``record_tool``);
- the stream routes keep ``active_streams``, the limiter ``streams_in_use``.

A request is ``ok`` (1xx-3xx), ``rejected`` (4xx: the server did its job and said no) or ``failed``
(5xx, or no complete response). The success rate is the share of requests that did not fail, and
``health_status`` (pure) turns the figures into ``healthy`` or ``degraded`` (see its docstring).
"""
from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WINDOW = 1000
MIN_SAMPLE = 20  # fewer recent outcomes than this say nothing about a rate (one failure of 3 is not an outage)
HEALTHY_RATE = 0.95  # the manual: healthy above a 95 % success rate (its alert fires at a 5 % error rate)
BUSY_SHARE = 0.9  # streams in use at or above 90 % of the limit: new clients are about to be turned away
UNCOUNTED_PATHS = frozenset({"/health"})


def _window() -> deque[Any]:
    return deque(maxlen=WINDOW)


@dataclass
class Metrics:
    """Counters the manual's health endpoint shows (names as in ``docs/serving.md``)."""

    requests_total: int = 0
    requests_ok: int = 0
    requests_rejected: int = 0
    requests_failed: int = 0
    response_times_s: deque[float] = field(default_factory=_window)
    api_times_s: deque[float] = field(default_factory=_window)
    stream_times_s: deque[float] = field(default_factory=_window)
    recent_requests: deque[bool] = field(default_factory=_window)  # True: did not fail
    runs_total: int = 0
    runs_ok: int = 0
    runs_failed: int = 0
    run_times_s: deque[float] = field(default_factory=_window)
    recent_runs: deque[bool] = field(default_factory=_window)
    websockets_total: int = 0
    tool_usage: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    active_streams: int = 0
    streams_in_use: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def record_http(self, status: int | None, seconds: float, stream: bool = False) -> None:
        """One HTTP request answered: its status (None: the app never completed a response) and duration."""
        self.requests_total += 1
        failed = status is None or status >= 500
        if failed:
            self.requests_failed += 1
        elif status >= 400:
            self.requests_rejected += 1
        else:
            self.requests_ok += 1
        if status is None or status >= 400:
            self.errors["HTTP " + (str(status) if status is not None else "no response")] += 1
        self.recent_requests.append(not failed)
        self.response_times_s.append(seconds)
        (self.stream_times_s if stream else self.api_times_s).append(seconds)

    def record_request(self, ok: bool, seconds: float, error: str | None = None) -> None:
        """One run ended (the run manager's call): ok (done, interrupted, cancelled) or not, and why not."""
        self.runs_total += 1
        if ok:
            self.runs_ok += 1
        else:
            self.runs_failed += 1
            self.errors[f"run: {error or 'unknown'}"] += 1
        self.recent_runs.append(ok)
        self.run_times_s.append(seconds)

    record_run = record_request

    def record_tool(self, name: str) -> None:
        self.tool_usage[name] += 1

    def snapshot(self, max_streams: int | None = None) -> dict[str, Any]:
        """The /health body's metrics, JSON-ready."""
        status, reasons = health_status(list(self.recent_requests), list(self.recent_runs), self.streams_in_use, max_streams)
        times = timing(self.response_times_s)
        return {
            "status": status,
            "reasons": reasons,
            "requests_total": self.requests_total,
            "requests_ok": self.requests_ok,
            "requests_rejected": self.requests_rejected,
            "requests_failed": self.requests_failed,
            "success_rate": rate(self.requests_total - self.requests_failed, self.requests_total),
            "response_time_mean_s": times["mean_s"],
            "response_time_p95_s": times["p95_s"],
            "response_times": {"api": timing(self.api_times_s), "stream": timing(self.stream_times_s)},
            "runs": {"total": self.runs_total, "ok": self.runs_ok, "failed": self.runs_failed,
                     "success_rate": rate(self.runs_ok, self.runs_total), **_prefixed(timing(self.run_times_s), "duration_")},
            "tool_usage": dict(self.tool_usage.most_common()),
            "top_errors": [{"error": e, "count": n} for e, n in self.errors.most_common(5)],
            "active_streams": self.active_streams,
            "streams_in_use": self.streams_in_use,
            "max_streams": max_streams,
            "websockets_total": self.websockets_total,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }


def health_status(requests: Sequence[bool], runs: Sequence[bool], streams_in_use: int,
                  max_streams: int | None) -> tuple[str, list[str]]:
    """``("healthy", [])``, or ``("degraded", reasons)``: the one rule /health applies.

    Degraded when any of these holds:

    - of the recent HTTP requests (``True``: did not fail), at least ``MIN_SAMPLE`` and under 95 % succeeded;
    - of the recent runs (``True``: ended ok, interrupted or cancelled), the same;
    - the streams in use reach 90 % of ``max_streams``: the next clients will get 503.

    Recent means the last ``WINDOW`` outcomes, so a server recovers its ``healthy`` as good requests
    push old failures out. Client errors (4xx) count as successes: a 401 or 404 is the server working.
    """
    reasons = []
    for what, outcomes in (("HTTP requests", requests), ("runs", runs)):
        if len(outcomes) >= MIN_SAMPLE:
            share = sum(outcomes) / len(outcomes)
            if share < HEALTHY_RATE:
                reasons.append(f"{share:.0%} of the last {len(outcomes)} {what} succeeded (healthy: at least {HEALTHY_RATE:.0%})")
    if max_streams and streams_in_use >= BUSY_SHARE * max_streams:
        reasons.append(f"{streams_in_use} of {max_streams} streams in use (degraded from {BUSY_SHARE:.0%})")
    return ("degraded" if reasons else "healthy"), reasons


def rate(good: int, total: int) -> float:
    """``good / total`` rounded, and 1.0 before anything happened (nothing has failed yet)."""
    return round(good / total, 4) if total else 1.0


def timing(values: Sequence[float] | deque[float]) -> dict[str, Any]:
    """Count, mean and p95 of durations in seconds (None when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "mean_s": None, "p95_s": None}
    return {"count": len(ordered), "mean_s": round(sum(ordered) / len(ordered), 4), "p95_s": round(percentile(ordered, 0.95), 4)}


def _prefixed(figures: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {("" if k == "count" else prefix) + k: v for k, v in figures.items() if k != "count"}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (no numpy for one number)."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _metrics(scope: Scope) -> Metrics | None:
    state = getattr(getattr(scope.get("app"), "state", None), "lessonkit", None)
    return getattr(state, "metrics", None)


class MetricsMiddleware:
    """Counts and times every HTTP request (but ``/health``) without touching its body: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = _metrics(scope) if scope["type"] in ("http", "websocket") else None
        if metrics is None or scope["path"] in UNCOUNTED_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            metrics.websockets_total += 1
            await self.app(scope, receive, send)
            return
        began = time.monotonic()
        status: int | None = None
        stream = complete = False

        async def sending(message: Message) -> None:
            nonlocal status, stream, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", ()))
                stream = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            # before a response: the error handler answers 500; after one started: the client got a broken response
            metrics.record_http(500 if status is None else None, time.monotonic() - began, stream)
            raise
        # a stream the client left early still ends normally here; a response never finished did not
        metrics.record_http(status if complete or stream else None, time.monotonic() - began, stream)
