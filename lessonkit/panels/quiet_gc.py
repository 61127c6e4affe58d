"""Keep full garbage collections short while a run is streaming to the screen.

Once LangChain, LangGraph, openai and ipywidgets are imported a kernel tracks ~175,000 objects, and a
full (generation 2) collection scans them all: 50-80 ms with the event loop stopped, long enough to
push a token past the 100 ms wait budget (``python -m bench.traffic --no-quiet-gc``: with text streamed as
deltas a full collection still lands in most 3,000-token runs, and waits reach 150-480 ms with an 80 ms
flush interval, against 80-83 ms with it; docs/benchmarks.md section 3). For the length of a run, ``quiet_gc()`` freezes the objects that existed before
it (``gc.freeze``), so a collection scans only what the run made, and unfreezes them afterwards so
nothing lives longer than it would have. If someone else has frozen objects, it leaves the
collector alone: their freeze is not ours to undo. (One case it cannot tell apart: code that calls
``gc.freeze()`` while a run is streaming gets its objects unfrozen when the run ends.)
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

_runs = 0  # runs inside quiet_gc now (two dashboards can stream at once)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Freeze pre-existing objects for the duration of the block (nested and concurrent blocks share one freeze)."""
    global _runs
    ours = _runs > 0 or gc.get_freeze_count() == 0
    if ours:
        if _runs == 0:
            gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        if ours:
            _runs -= 1
            if _runs == 0:
                gc.unfreeze()
