"""The guarded graph: a compiled graph whose runs and state updates take their thread's run lock."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from lessonkit.postgres import unavailable_error
from lessonkit.persistence.runs.claims import (
    END, aclaim_thread, aholding, arelease_claim, claim_thread, holding, release_claim,
)
from lessonkit.persistence.runs.decisions import Multitask, RunPolicy, locked_thread, policy

try:
    # The merge LangGraph's own runs apply to a config (the graph's bound config, the ambient one of an
    # enclosing run, the caller's), so the guard sees exactly the thread and namespace the run will use.
    # Private: tests/test_runs.py::test_private_langgraph_apis_the_guard_relies_on fails loudly if it moves.
    from langgraph._internal._config import ensure_config as _run_config
except ImportError:  # pragma: no cover - the public near-equivalent keeps lessonkit working meanwhile
    from langchain_core.runnables.config import ensure_config, merge_configs

    def _run_config(*configs: RunnableConfig | None) -> RunnableConfig:
        return ensure_config(merge_configs(*configs))


@contextlib.contextmanager
def _database_errors(saver: Any) -> Iterator[None]:
    """A run whose database went away mid-run raises DatabaseUnavailableError saying what was kept, not psycopg's text."""
    try:
        yield
    except Exception as error:
        better = unavailable_error(saver, error)
        if better is None:
            raise
        raise better from None


class GuardedGraph(CompiledStateGraph):
    """A compiled graph whose runs and state updates take their thread's run lock (see the module docstring)."""

    lessonkit_runs: RunPolicy

    def __init__(self, *, lessonkit_runs: RunPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # copy()/with_config() build the copy through here
        self.lessonkit_runs = lessonkit_runs or RunPolicy()

    def _thread(self, config: RunnableConfig | None) -> str | None:
        return locked_thread(_run_config(self.config, config), self.checkpointer)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:  # type: ignore[override]
        claim = claim_thread(self.checkpointer, self._thread(config), self.lessonkit_runs)
        try:  # only the run's own steps are inside it: the caller's code between chunks is not
            with _database_errors(self.checkpointer), contextlib.closing(super().stream(input, config, **kwargs)) as chunks:
                while (chunk := claim.step(chunks)) is not END:
                    yield chunk
        finally:
            release_claim(claim)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        claim = await aclaim_thread(self.checkpointer, self._thread(config), self.lessonkit_runs)
        try:
            with _database_errors(self.checkpointer):
                async with contextlib.aclosing(super().astream(input, config, **kwargs)) as chunks:
                    while (chunk := await claim.astep(chunks)) is not END:
                        yield chunk
        finally:
            await arelease_claim(claim)

    def bulk_update_state(self, config: RunnableConfig, supersteps: Any) -> RunnableConfig:  # update_state comes here
        with holding(claim_thread(self.checkpointer, self._thread(config), self.lessonkit_runs)):
            return super().bulk_update_state(config, supersteps)

    async def abulk_update_state(self, config: RunnableConfig, supersteps: Any) -> RunnableConfig:  # and aupdate_state here
        async with aholding(await aclaim_thread(self.checkpointer, self._thread(config), self.lessonkit_runs)):
            return await super().abulk_update_state(config, supersteps)


def guard(graph: CompiledStateGraph, *, multitask: Multitask = "reject", timeout: float | None = None) -> GuardedGraph:
    """Make what ``StateGraph.compile()`` returned take its thread's run lock around every run and update_state.

    compile() always builds a plain CompiledStateGraph, so the object's class is swapped for the
    subclass: same object, nothing copied (tests/test_runs.py fails loudly if compile() changes).
    """
    if type(graph) is not CompiledStateGraph and not isinstance(graph, GuardedGraph):
        raise TypeError(f"guard() takes what StateGraph.compile() returns, a CompiledStateGraph, not {type(graph).__name__}")
    graph.__class__ = GuardedGraph
    graph.lessonkit_runs = policy(multitask, timeout)
    return graph
