"""Adapters: LangGraph's stream output in, normalized events (``events.py``) out; ``watch`` runs a graph.

Two sources, one event model:
- ``graph.astream`` / ``graph.stream`` with ``version="v2"`` typed parts, in any mix of the messages,
  updates, custom, tasks and checkpoints modes, with subgraphs (``StreamAdapter``, astream_parts.py);
- ``graph.astream_events(version="v2")`` (``EventsV2Adapter``, events_v2.py).

``watch`` / ``watch_sync`` are thin async/sync shells around one body (``_Run``): RunStart, the
adapter's events item by item, RunEnd. Empty chunks are counted but never become tokens.
"""
from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any, AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from .astream_parts import StreamAdapter
from .builder import Clock
from .events import InterruptRaised, RunEnd, RunStart, StreamEvent
from .events_v2 import EventsV2Adapter
from .tool_pairs import TOOL_ERROR_PREFIX, tool_error_text

__all__ = [
    "DEFAULT_MODES", "TOOL_ERROR_PREFIX", "Clock", "EventsV2Adapter", "Source", "StreamAdapter", "tool_error_text", "watch",
    "watch_sync",
]

DEFAULT_MODES: tuple[str, ...] = ("messages", "updates", "custom", "tasks", "checkpoints")
Source = Literal["astream", "astream_events"]


class _Run:
    """One run's decisions, whichever shell drives it: what starts it, what each item adds, how it ends."""

    def __init__(self, feed: Callable[[Any], list[StreamEvent]], clock: Clock, config: Mapping[str, Any] | None, source: Source) -> None:
        self.feed_item, self.clock = feed, clock
        thread = ((config or {}).get("configurable") or {}).get("thread_id")
        self.start = RunStart(t=clock(), run_id=str(uuid.uuid4()), thread_id=thread, source=source)
        self.interrupted = False

    def feed(self, item: Any) -> list[StreamEvent]:
        events = self.feed_item(item)
        self.interrupted = self.interrupted or any(isinstance(e, InterruptRaised) for e in events)
        return events

    def end(self, error: BaseException | None = None) -> RunEnd:
        """done or interrupted; cancelled (Stop, Ctrl-C) or error when ``error`` stopped it."""
        if error is None:
            return RunEnd(t=self.clock(), run_id=self.start.run_id, status="interrupted" if self.interrupted else "done")
        if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
            return RunEnd(t=self.clock(), run_id=self.start.run_id, status="cancelled")
        return RunEnd(t=self.clock(), run_id=self.start.run_id, status="error", error=f"{type(error).__name__}: {error}")


def _astream(graph: Any, inputs: Any, config: Mapping[str, Any] | None, via: Source, modes: Sequence[str],
             clock: Clock | None, kwargs: Mapping[str, Any]) -> tuple[_Run, AsyncIterable[Any]]:
    if via == "astream":
        adapter: StreamAdapter | EventsV2Adapter = StreamAdapter(clock)
        items = graph.astream(inputs, config, stream_mode=list(modes), subgraphs=True, version="v2", **kwargs)
    else:
        adapter = EventsV2Adapter(clock)
        items = graph.astream_events(inputs, config, version="v2", **kwargs)
    return _Run(adapter.feed, adapter.clock, config, via), items


async def watch(
    graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, *, via: Source = "astream",
    modes: Sequence[str] = DEFAULT_MODES, clock: Clock | None = None, **kwargs: Any,
) -> AsyncIterator[StreamEvent]:
    """Run ``graph`` asynchronously and yield normalized events, RunStart first and RunEnd last.

    ``graph`` may also be anything with ``lessonkit_events(inputs, config, clock=..., **kwargs)`` (a served
    agent, ``lessonkit.serve.client.ServedAgent``): its events are passed on as they are.
    """
    served = getattr(graph, "lessonkit_events", None)
    if callable(served):
        async for event in served(inputs, config, clock=clock, **kwargs):
            yield event
        return
    run, items = _astream(graph, inputs, config, via, modes, clock, kwargs)
    yield run.start
    try:
        async for item in items:
            for event in run.feed(item):
                yield event
    except BaseException as error:
        yield run.end(error)
        raise
    yield run.end()


def watch_sync(
    graph: Any, inputs: Any, config: Mapping[str, Any] | None = None, *, modes: Sequence[str] = DEFAULT_MODES,
    clock: Clock | None = None, **kwargs: Any,
) -> Iterator[StreamEvent]:
    """The same for ``graph.stream`` (a sync graph with SqliteSaver)."""
    adapter = StreamAdapter(clock)
    run = _Run(adapter.feed, adapter.clock, config, "astream")
    parts: Iterable[Any] = graph.stream(inputs, config, stream_mode=list(modes), subgraphs=True, version="v2", **kwargs)
    yield run.start
    try:
        yield from itertools.chain.from_iterable(map(run.feed, parts))
    except BaseException as error:
        yield run.end(error)
        raise
    yield run.end()
