"""Canaries: every private API lessonkit still leans on, each failing loudly (and saying what breaks) when it moves.

Where a public way exists lessonkit uses it (ipywidgets' ``get_view_spec()``, the savers' ``list``/``delete_thread``,
their public ``conn``/``lock``); what stays private or raw is checked here:

* ``threading._register_atexit`` (lessonkit.support.exit_hooks): exit hooks that must run before non-daemon threads are joined;
* ``langchain_tavily._utilities.TavilySearchAPIWrapper`` (lessonkit.harness.search): the wrapper the search tool records through;
* raw SQL on LangGraph's checkpoint tables (thread listing, and the table names ``foreign_reason`` trusts);
* pytest-xdist's ``LoadScopeScheduling._split_scope`` (tests/scheduling.py): how the test command groups tests on workers.

Elsewhere, beside the code that leans on it: the ``checkpoint_ns`` string format a model call's task is read from
(lessonkit.stream.checkpoint_ns; canary in tests/test_adapters.py) and DeltaChannel's internals (tests/test_long_threads.py).
"""
from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from lessonkit import checkpoints, postgres
from lessonkit.support import exit_hooks
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)

# ---------------------------------------------------------------- threading._register_atexit

EXIT_HOOK_BROKEN = (
    "threading._register_atexit is gone or no longer runs before non-daemon threads are joined. lessonkit.support.exit_hooks "
    "falls back to atexit, which runs after that join: a process that leaves an AsyncSqliteSaver, a Postgres pool or "
    "a Postgres lock session open now hangs at exit. Find CPython's replacement and use it in lessonkit/support/exit_hooks.py."
)


def test_threading_still_has_its_pre_join_exit_hooks() -> None:
    assert exit_hooks.runs_before_thread_join(), EXIT_HOOK_BROKEN


def test_a_hook_ends_a_non_daemon_thread_so_the_interpreter_exits() -> None:
    code = textwrap.dedent("""
        import threading
        from lessonkit.support.exit_hooks import at_interpreter_exit
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=False).start()  # as an unclosed aiosqlite connection's worker
        at_interpreter_exit(stop.set)
    """)
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(EXIT_HOOK_BROKEN)


# ---------------------------------------------------------------- langchain_tavily._utilities

def test_tavily_wrapper_is_still_the_private_class_the_search_tool_takes() -> None:
    import langchain_tavily
    from langchain_tavily import TavilySearch

    try:
        from langchain_tavily._utilities import TavilySearchAPIWrapper
    except ImportError as error:
        pytest.fail(f"langchain_tavily._utilities.TavilySearchAPIWrapper moved ({error}): lessonkit/harness/search.py subclasses "
                    "it to record and replay searches; import it from its new home there.")
    assert not hasattr(langchain_tavily, "TavilySearchAPIWrapper"), (
        "langchain_tavily now exports TavilySearchAPIWrapper publicly: import it from there in lessonkit/harness/search.py "
        "(and drop this canary's private import).")
    assert TavilySearch.model_fields["api_wrapper"].annotation is TavilySearchAPIWrapper, (
        "TavilySearch.api_wrapper no longer takes langchain_tavily._utilities.TavilySearchAPIWrapper: "
        "lessonkit.harness.search.RecordedTavilyAPI must subclass what it takes now.")
    for name in ("raw_results", "raw_results_async"):
        assert "query" in inspect.signature(getattr(TavilySearchAPIWrapper, name)).parameters, (
            f"TavilySearchAPIWrapper.{name} changed shape: lessonkit.harness.search.RecordedTavilyAPI overrides it.")


def test_the_search_tool_still_calls_the_wrapper_lessonkit_overrides(tmp_path: Path) -> None:
    from lessonkit.harness.recording import Cassette, Script, SearchReply
    from lessonkit.harness.search import recorded_search

    cassette = Cassette(tmp_path / "search.json")
    hit = {"title": "SF weather", "url": "https://example.com/sf", "content": "sunny", "score": 0.9}
    script = Script(searches=[SearchReply("weather in sf", {"query": "weather in sf", "results": [hit]}, 0.0)])
    tool = recorded_search(cassette, recording=True, script=script, max_results=2)
    result = tool.invoke({"query": "weather in sf"})
    recorded = [i["request"] for i in cassette.interactions if i["kind"] == "search"]
    assert [r["query"] for r in recorded] == ["weather in sf"] and recorded[0]["max_results"] == 2, (
        "TavilySearch no longer calls api_wrapper.raw_results(query=..., ...): searches bypass the recording.")
    assert result["results"][0]["content"] == "sunny", result


# ---------------------------------------------------------------- ipywidgets view spec (public since 7.0)

def test_panels_show_the_view_spec_ipywidgets_itself_gives() -> None:
    from lessonkit.panels.dashboard import Dashboard

    dash = Dashboard()
    spec = dash.widget.get_view_spec()
    assert spec == {"version_major": 2, "version_minor": 0, "model_id": dash.widget.model_id}
    assert dash._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"] == spec
    assert dash.widget._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"] == spec  # ipywidgets' own display


# ---------------------------------------------------------------- raw SQL on the savers' tables

def say(graph, thread: str) -> None:
    graph.invoke({"messages": [HumanMessage(f"hello from {thread}")]}, {"configurable": {"thread_id": thread}})


def echo_graph(saver):
    from langgraph.graph import START, MessagesState, StateGraph

    graph = StateGraph(MessagesState)
    graph.add_node("echo", lambda state: {"messages": [("ai", "ok")]})
    graph.add_edge(START, "echo")
    return graph.compile(checkpointer=saver)


def test_sqlite_saver_still_creates_the_tables_and_column_lessonkit_queries(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "canary.db")
    try:
        tables = {row[0] for row in saver.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == set(checkpoints.LANGGRAPH_TABLES), (
            f"SqliteSaver.setup() now creates {sorted(tables)}, not {sorted(checkpoints.LANGGRAPH_TABLES)}: "
            "checkpoints.LANGGRAPH_TABLES (which foreign_reason trusts before deleting a file) must follow.")
        columns = {row[1] for row in saver.conn.execute("PRAGMA table_info(checkpoints)")}
        assert "thread_id" in columns, f"checkpoints.SQLITE_THREADS_SQL ({checkpoints.SQLITE_THREADS_SQL!r}) reads a column gone"
        app = echo_graph(saver)
        for thread in ("b", "a", "b"):
            say(app, thread)
        public = sorted({t.config["configurable"]["thread_id"] for t in saver.list(None)})
        assert checkpoints.list_threads(saver) == public == ["a", "b"], checkpoints.SQLITE_THREADS_SQL
    finally:
        checkpoints.close_sync_saver(saver)
    assert checkpoints.foreign_reason(tmp_path / "canary.db") is None


def test_async_sqlite_thread_query_matches_the_public_list(tmp_path: Path) -> None:
    db = tmp_path / "canary.db"
    saver = checkpoints.sqlite_saver(db)
    for thread in ("y", "x"):
        say(echo_graph(saver), thread)
    checkpoints.close_sync_saver(saver)

    async def main() -> tuple[list[str], list[str]]:
        asaver = await checkpoints.async_sqlite_saver(db)
        try:
            public = sorted({t.config["configurable"]["thread_id"] async for t in asaver.alist(None)})
            return await checkpoints.alist_threads(asaver), public
        finally:
            await checkpoints.close_saver(asaver)

    ours, public = asyncio.run(main())
    assert ours == public == ["x", "y"], checkpoints.SQLITE_THREADS_SQL


@pytest.mark.postgres
def test_postgres_saver_still_has_the_column_lessonkit_queries(postgres_url: str) -> None:  # noqa: F811
    saver = checkpoints.postgres_saver(postgres_url)
    try:
        with saver.conn.connection() as conn:
            columns = {row["column_name"] for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'checkpoints'")}
        assert "thread_id" in columns, f"postgres.THREADS_SQL ({postgres.THREADS_SQL!r}) reads a table or column gone"
        for thread in ("q", "p"):
            say(echo_graph(saver), thread)
        public = sorted({t.config["configurable"]["thread_id"] for t in saver.list(None)})
        assert checkpoints.list_threads(saver) == public == ["p", "q"], postgres.THREADS_SQL
    finally:
        postgres.close_postgres_saver(saver)

    async def main() -> list[str]:
        asaver = await checkpoints.async_postgres_saver(postgres_url)
        try:
            return await checkpoints.alist_threads(asaver)
        finally:
            await checkpoints.close_saver(asaver)

    assert asyncio.run(main()) == ["p", "q"], postgres.THREADS_SQL


def test_thread_listing_sql_is_only_where_the_canaries_look() -> None:
    """A new raw query on the savers' tables must come with a canary here."""
    root = Path(checkpoints.__file__).parent
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if any(word in p.read_text(encoding="utf-8") for word in ("FROM checkpoints", "FROM writes",
                                                                             "FROM checkpoint_")))
    assert found == ["checkpoints.py", "postgres.py"], found


# ---------------------------------------------------------------- xdist LoadScopeScheduling._split_scope
def test_xdist_still_groups_work_by_split_scope() -> None:
    """tests/scheduling.py keeps a lesson's cells on one worker by overriding ``_split_scope``; if xdist stops calling
    it, cells of one notebook would run in different kernels (and the later ones fail)."""
    from xdist.scheduler import LoadScopeScheduling

    assert "_split_scope" in inspect.getsource(LoadScopeScheduling.schedule), (
        "pytest-xdist no longer builds its work units with _split_scope: update tests/scheduling.py")

