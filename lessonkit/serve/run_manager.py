"""Active runs per thread: each run is an asyncio task that owns the thread's run lock, and an event log.

Why a task and a log instead of streaming the graph inside the HTTP handler:

- the run must outlive its connection when the client asks (``on_disconnect="continue"``), and a
  client that reconnects with ``Last-Event-ID`` must get exactly what it missed: so every wire event
  is appended to the run's log with the next id (1, 2, 3, ...), and subscribers read the log;
- one run per thread, across processes: the task holds ``lessonkit.persistence.runs.athread_run`` for the whole
  run, and the guarded graph inside re-enters that lock instead of waiting for itself;
- cancel (a WebSocket ``cancel``, the last subscriber leaving) and the timeout are one
  ``task.cancel()`` away, and always end the log with one terminal event (``end`` or ``error``).

Publishing is synchronous (append and wake the readers), so a run never waits for a slow reader:
a reader that falls behind reads from the log at its own pace.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from lessonkit.errors import DatabaseUnavailableError, ThreadBusyError
from lessonkit.persistence.runs import Multitask, athread_run
from lessonkit.stream.adapters import watch
from lessonkit.stream.events import InterruptRaised, RunEnd, RunStart, ToolDecision

from .events import TERMINAL_TYPES, WireEvent, end_event, error_event, jsonable, metadata_event, to_wire
from .identity import ThreadKey
from .metrics import Metrics
from .settings import OnDisconnect, ServeSettings

HEARTBEAT = None  # what ``Run.follow`` yields when the run was quiet for a heartbeat interval


@dataclass(frozen=True)
class RunRequest:
    """Everything a run needs, decided by the route before the run starts."""

    key: ThreadKey
    input: Any  # {"messages": [HumanMessage]} or Command(resume=...)
    extras: tuple[str, ...] = ()
    multitask: Multitask = "reject"
    on_disconnect: OnDisconnect = "cancel"
    resumed: bool = False


class Run:
    """One run's log, readers and task (see the module docstring)."""

    def __init__(self, request: RunRequest) -> None:
        self.run_id = str(uuid.uuid4())
        self.request = request
        self.events: list[WireEvent] = []
        self.subscribers = 0
        self.finished_at: float | None = None
        self.started = False
        self.start_error: ThreadBusyError | None = None
        self.task: asyncio.Task[None] | None = None
        self._lock_settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wakeup = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def publish(self, event: WireEvent) -> int:
        """Append one event (id = its position, from 1) and wake every reader; nothing after a terminal event."""
        if self.events and self.events[-1]["type"] in TERMINAL_TYPES:
            return len(self.events)
        self.events.append(event)
        self._wakeup.set()
        self._wakeup = asyncio.Event()
        return len(self.events)

    def settle_lock(self, error: ThreadBusyError | None = None) -> None:
        """The lock was taken (or could not be): ``wait_for_lock`` returns, or raises ThreadBusyError."""
        self.started = error is None
        self.start_error = error
        if not self._lock_settled.done():
            self._lock_settled.set_result(None)

    async def wait_for_lock(self) -> None:
        """Until the run holds its thread (or gave up): how a ``reject`` route learns to answer 409."""
        await asyncio.shield(self._lock_settled)
        if self.start_error is not None:
            raise self.start_error

    def finish(self) -> None:
        self.settle_lock(self.start_error)
        self.finished_at = time.monotonic()
        self._wakeup.set()

    async def follow(self, after: int, heartbeat_s: float) -> AsyncIterator[tuple[int, WireEvent] | None]:
        """Events with ids above ``after``, then the rest as they come; ``HEARTBEAT`` after each quiet interval.

        Ends after the terminal event. Leaving (the client went away) may cancel the run: see RunManager.
        """
        self.subscribers += 1
        try:
            position = max(0, after)
            while True:
                while position < len(self.events):
                    position += 1
                    yield position, self.events[position - 1]
                if self.finished:
                    return
                wakeup = self._wakeup
                try:
                    await asyncio.wait_for(wakeup.wait(), heartbeat_s)
                except TimeoutError:
                    yield HEARTBEAT
        finally:
            self.subscribers -= 1
            if self.subscribers == 0 and not self.finished and self.request.on_disconnect == "cancel":
                self.cancel()

    def cancel(self) -> bool:
        """Stop the run (the log ends with ``end`` status ``cancelled``); False when it had ended already."""
        if self.finished or self.task is None or self.task.done():
            return False
        self.task.cancel()
        return True


class RunManager:
    """Starts runs as tasks, finds them again (by run id, or a thread's latest), and stops them all at shutdown."""

    def __init__(self, graph: Any, checkpointer: Any, settings: ServeSettings, metrics: Metrics) -> None:
        self.graph, self.checkpointer, self.settings, self.metrics = graph, checkpointer, settings, metrics
        self._runs: dict[str, Run] = {}
        self._latest: dict[str, str] = {}  # stored thread id → run id of the latest run that took the lock

    def start(self, request: RunRequest) -> Run:
        """Create the run and its task now; the task waits for the thread's lock by the request's policy."""
        self._forget_old()
        run = Run(request)
        self._runs[run.run_id] = run
        run.task = asyncio.create_task(self._drive(run), name=f"lessonkit-run-{run.run_id}")
        return run

    def get(self, run_id: str, key: ThreadKey) -> Run | None:
        """The run with this id, if it is on this thread (a run id never reaches across threads or users)."""
        run = self._runs.get(run_id)
        return run if run is not None and run.request.key == key else None

    def latest(self, key: ThreadKey) -> Run | None:
        """The thread's current run, or its last one while it is still retained."""
        run_id = self._latest.get(key.stored)
        return self._runs.get(run_id) if run_id else None

    def unfinished(self, key: ThreadKey) -> list[Run]:
        return [r for r in self._runs.values() if r.request.key == key and not r.finished]

    def cancel_thread(self, key: ThreadKey) -> int:
        """Cancel every unfinished run on the thread (the active one and any queued): how many were stopped."""
        return sum(run.cancel() for run in self.unfinished(key))

    @property
    def active_count(self) -> int:
        return sum(1 for r in self._runs.values() if r.started and not r.finished)

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Cancel every unfinished run and wait (bounded) for their tasks, so the saver closes after them."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - self.settings.retain_finished_s
        for run_id in [i for i, r in self._runs.items() if r.finished_at is not None and r.finished_at < cutoff]:
            run = self._runs.pop(run_id)
            if self._latest.get(run.request.key.stored) == run_id:
                del self._latest[run.request.key.stored]

    async def _drive(self, run: Run) -> None:
        request, began = run.request, time.monotonic()
        outcome: str | None = None
        try:
            async with athread_run(self.checkpointer, request.key.stored, multitask=request.multitask,
                                   timeout=self.settings.enqueue_timeout_s):
                self._latest[request.key.stored] = run.run_id
                run.settle_lock()
                run.publish(metadata_event(run.run_id, request.key.thread_id, multitask=request.multitask,
                                           on_disconnect=request.on_disconnect, resumed=request.resumed))
                deadline = asyncio.timeout(self.settings.run_timeout_s)
                try:
                    async with deadline:
                        status = await self._stream(run)
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    outcome = "timeout"
                    run.publish(error_event(run.run_id, "timeout", (
                        f"the run on thread {request.key.thread_id!r} took longer than {self.settings.run_timeout_s:g} s and was "
                        "stopped; the thread keeps its last checkpoint. Send the message again, or ask for less.")))
                else:
                    outcome = "ok"
                    run.publish(end_event(run.run_id, status))
        except ThreadBusyError as error:
            outcome = "busy"
            run.settle_lock(error)
            run.publish(error_event(run.run_id, "busy", str(error)))
        except asyncio.CancelledError:
            outcome = "cancelled"
            run.publish(end_event(run.run_id, "cancelled"))
        except DatabaseUnavailableError as error:
            outcome = type(error).__name__
            run.publish(error_event(run.run_id, "database_unavailable", str(error)))
        except Exception as error:  # noqa: BLE001 - the client hears why; the server keeps serving
            outcome = type(error).__name__
            run.publish(error_event(run.run_id, "failed", f"the run failed: {type(error).__name__}: {error}"))
        finally:
            run.finish()
            if outcome not in (None, "busy") or run.started:
                self.metrics.record_request(outcome in ("ok", "cancelled"), time.monotonic() - began,
                                            None if outcome in ("ok", "cancelled") else outcome)

    async def _stream(self, run: Run) -> str:
        """Run the graph through ``watch`` and publish its events; the status the run ended with."""
        interrupted = False
        request = run.request
        async with contextlib.aclosing(watch(self.graph, request.input, request.key.config())) as events:
            async for event in events:
                if isinstance(event, (RunStart, RunEnd)):
                    continue  # the manager sends metadata and the terminal event itself
                if isinstance(event, ToolDecision):
                    self.metrics.record_tool(event.tool)
                interrupted = interrupted or isinstance(event, InterruptRaised)
                wire = to_wire(event, request.extras)
                if wire is not None:
                    run.publish(jsonable(wire))
        return "interrupted" if interrupted else "done"
