"""What /health reports: run outcomes, response times, tool usage, top errors, open streams.

Kept in memory, per server process, bounded (the last ``WINDOW`` response times), and fed only by
the run manager and the stream routes, so adding HTTP-level request counting later (a middleware)
means calling ``record_request`` from one more place. ``snapshot`` is pure over the counters.
"""
from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

WINDOW = 1000
DEGRADED_BELOW = 0.9  # success rate under which /health says "degraded"


@dataclass
class Metrics:
    """Counters the manual's health endpoint shows (names as in ``docs/serving.md``)."""

    requests_total: int = 0
    requests_ok: int = 0
    requests_failed: int = 0
    response_times_s: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    tool_usage: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    active_streams: int = 0

    def record_request(self, ok: bool, seconds: float, error: str | None = None) -> None:
        """One run (or, later, one HTTP request) ended: ok or not, how long it took, and why not."""
        self.requests_total += 1
        if ok:
            self.requests_ok += 1
        else:
            self.requests_failed += 1
            self.errors[error or "unknown"] += 1
        self.response_times_s.append(seconds)

    def record_tool(self, name: str) -> None:
        self.tool_usage[name] += 1

    def snapshot(self) -> dict[str, Any]:
        """The /health body's metrics, JSON-ready."""
        times = sorted(self.response_times_s)
        rate = self.requests_ok / self.requests_total if self.requests_total else 1.0
        return {
            "status": "healthy" if rate >= DEGRADED_BELOW else "degraded",
            "requests_total": self.requests_total,
            "requests_ok": self.requests_ok,
            "requests_failed": self.requests_failed,
            "success_rate": round(rate, 4),
            "response_time_mean_s": round(sum(times) / len(times), 4) if times else None,
            "response_time_p95_s": round(percentile(times, 0.95), 4) if times else None,
            "tool_usage": dict(self.tool_usage.most_common()),
            "top_errors": [{"error": e, "count": n} for e, n in self.errors.most_common(5)],
            "active_streams": self.active_streams,
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (no numpy for one number)."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]
