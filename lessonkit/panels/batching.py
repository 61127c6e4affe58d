"""Flushing widget updates on a time budget: at most 12.5 a second (the budget is 20), whatever the token rate.

Panels change their Python-side state on every event and call ``request()``; the Flusher pushes
the changes to the browser no more often than ``interval`` and never leaves a change waiting longer
than that (a timer on the running event loop catches the tail). ``flush(final=True)`` always runs.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

# A change waits at most one interval plus whatever holds the event loop: 0.08 s keeps the longest wait under
# 100 ms (0.1 s gave 100-110 ms, 0.09 s up to 100.4 ms), and each flush costs only its delta's ~80 B of framing
# now that text is sent as deltas (bench/traffic.py, docs/benchmarks.md section 3).
DEFAULT_INTERVAL_S = 0.08


class Flusher:
    """Calls ``push`` at most once per ``interval`` while changes are pending."""

    def __init__(self, push: Callable[[], None], interval: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.push = push
        self.interval = interval
        self.clock = clock
        self.last = float("-inf")
        self.pending_since: float | None = None
        self.flush_times: list[float] = []
        self.longest_wait = 0.0  # the longest any change waited before it was sent
        self._timer: asyncio.TimerHandle | None = None

    def request(self) -> None:
        """Something changed: send now if the budget allows, else make sure a send is scheduled."""
        now = self.clock()
        if self.pending_since is None:
            self.pending_since = now
        if now - self.last >= self.interval:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (plain sync code): the next request or the final flush sends it
            self._timer = loop.call_later(self.interval - (now - self.last), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.pending_since is not None:
            self.flush()

    def flush(self, final: bool = False) -> None:
        """Send what is pending (``final``: even if nothing is, so the last state always lands)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.pending_since is None and not final:
            return
        now = self.clock()
        if self.pending_since is not None:
            self.longest_wait = max(self.longest_wait, now - self.pending_since)
        self.pending_since = None
        self.last = now
        self.flush_times.append(now)
        self.push()

    def max_flushes_per_second(self) -> int:
        """The most flushes that fell in any one-second window (what the budget promises to cap)."""
        times, best, start = self.flush_times, 0, 0
        for end in range(len(times)):
            while times[end] - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best
