"""A Postgres that goes away in the middle of a run, as a notebook cell sees it (issue 11, point 5)."""
from __future__ import annotations

import asyncio
import operator
from typing import Annotated, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from lessonkit import checkpoints as ck
from lessonkit.persistence import runs
from lessonkit.errors import DatabaseUnavailableError
from tests.postgres_server import postgres_server  # noqa: F401  (fixture)


class State(TypedDict):
    said: Annotated[list[str], operator.add]


def app_that_loses_its_database(saver, server):
    """A turn = two steps; the first one stops Postgres when asked to, so the write after it fails."""
    stopped = []

    def first(state):
        if state["said"][-1] == "stop the database" and not stopped:  # once: the retry re-runs this step
            stopped.append(True)
            server.stop("fast")
        return {"said": ["first"]}

    g = StateGraph(State)
    g.add_node("first", first)
    g.add_node("second", lambda state: {"said": ["second"]})
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    g.add_edge("second", END)
    return runs.guard(g.compile(checkpointer=saver))


CFG = {"configurable": {"thread_id": "t"}}


def check_error(err, server):
    text = str(err.value)
    assert text.startswith(f"the Postgres checkpoint database lessonkit@127.0.0.1:{server.port}/")
    assert "went away during this run" in text and "every earlier turn is kept" in text
    assert server.password not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_sync_run_in_a_cell(postgres_server):  # noqa: F811
    saver = ck.postgres_saver(postgres_server.create_database())
    app = app_that_loses_its_database(saver, postgres_server)
    try:
        assert app.invoke({"said": ["hello"]}, CFG)["said"] == ["hello", "first", "second"]
        try:
            with pytest.raises(DatabaseUnavailableError) as err:
                # durability="sync": the input's checkpoint is committed before the step that stops the database
                # (LangGraph's default saves it in the background, a race the test would lose under load)
                app.invoke({"said": ["stop the database"]}, CFG, durability="sync")
        finally:
            postgres_server.start()
        check_error(err, postgres_server)
        # nothing committed is lost: the first turn, and the second turn's input saved before the failure
        said = app.get_state(CFG).values["said"]
        assert said[:4] == ["hello", "first", "second", "stop the database"]
        # and the run goes on from its last checkpoint once the database is back
        assert app.invoke(None, CFG)["said"][-1] == "second"
        assert app.invoke({"said": ["again"]}, CFG)["said"][-3:] == ["again", "first", "second"]
    finally:
        ck.close_postgres_saver(saver)


def test_async_run_in_a_cell(postgres_server):  # noqa: F811
    async def main():
        saver = await ck.async_postgres_saver(postgres_server.create_database())
        app = app_that_loses_its_database(saver, postgres_server)
        try:
            await app.ainvoke({"said": ["hello"]}, CFG)
            try:
                with pytest.raises(DatabaseUnavailableError) as err:
                    await app.ainvoke({"said": ["stop the database"]}, CFG, durability="sync")  # as above
            finally:
                postgres_server.start()
            check_error(err, postgres_server)
            assert (await app.ainvoke({"said": ["again"]}, CFG))["said"][:3] == ["hello", "first", "second"]
        finally:
            await ck.aclose_postgres_saver(saver)

    asyncio.run(main())
