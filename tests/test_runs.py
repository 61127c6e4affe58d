"""One run at a time per thread (lessonkit.persistence.runs): real processes, tasks and threads on real SQLite files.

Without the lock, 4 writers x 10 turns on one thread keep about half of the 40 questions and raise
nothing: concurrent runs start from the same checkpoint and the last save wins.
"""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

import lessonkit
from lessonkit import checkpoints
from lessonkit.persistence import locks, runs
from lessonkit.persistence.runs import claims, decisions
from lessonkit.persistence.runs import guarded as guarded_module
from lessonkit.agent import AgentState
from lessonkit.errors import ThreadBusyError, ThreadIdError
from tests.conftest import ROOT

WRITERS, TURNS = 4, 10


class SlowEcho(BaseChatModel):
    """Answers "echo: <the last question>" after ``delay`` seconds, so turns sent at once overlap.

    ``meet``: a barrier every call waits at (sync), or a number of calls that must be in progress
    together (async), to prove runs overlap by events rather than by the clock. ``say``: printed when
    a call starts, for a parent process to see the run is under way.
    """

    delay: float = 0.02
    meet: Any = None
    say: str = ""

    @property
    def _llm_type(self) -> str:
        return "slow-echo"

    def _answer(self, messages: list[BaseMessage]) -> ChatResult:
        question = next(m.content for m in reversed(messages) if isinstance(m, HumanMessage))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"echo: {question}"))])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.say:
            print(self.say, flush=True)
        if self.meet is not None:
            self.meet.wait(timeout=10)  # BrokenBarrierError if the other run cannot get here meanwhile
        time.sleep(self.delay)
        return self._answer(messages)

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if self.meet is not None:
            self.meet["arrived"] += 1
            await asyncio.wait_for(_until(lambda: self.meet["arrived"] >= self.meet["expected"]), 10)
        await asyncio.sleep(self.delay)
        return self._answer(messages)


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.005)


def config(thread_id: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def ask(question: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(question)]}


def questions_in(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages if isinstance(m, HumanMessage)]


def assert_one_turn_after_another(messages: list[BaseMessage], history: list[checkpoints.CheckpointSummary]) -> None:
    """Every question is followed by its own answer, and every checkpoint's parent is the one before (no fork)."""
    pairs = [(messages[i].content, messages[i + 1].content) for i in range(0, len(messages), 2)]
    assert all(answer == f"echo: {question}" for question, answer in pairs), pairs
    assert len(messages) == 2 * len(pairs)
    assert history[0].parent_id is None
    assert [h.parent_id for h in history[1:]] == [h.checkpoint_id for h in history[:-1]]


# ---------------------------------------------------------------- (a) several processes, one thread, one file

WRITER = textwrap.dedent("""
    import json, sys
    from langchain_core.messages import HumanMessage
    import lessonkit
    from lessonkit import checkpoints
    from lessonkit.errors import ThreadBusyError
    from tests.test_runs import SlowEcho, TURNS

    db, writer, multitask = sys.argv[1:4]
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=checkpoints.sqlite_saver(db), system="", multitask=multitask)
    config = {"configurable": {"thread_id": "shared"}}
    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: every writer starts at once
    accepted, refused = [], []
    for n in range(TURNS):
        question = f"writer {writer} question {n}"
        try:
            graph.invoke({"messages": [HumanMessage(question)]}, config)
            accepted.append(question)
        except ThreadBusyError as error:
            refused.append({"question": question, "holder_pid": error.holder_pid, "message": str(error)})
    print(json.dumps({"accepted": accepted, "refused": refused}), flush=True)
""")


def run_writers(db: Path, multitask: str) -> tuple[list[dict[str, Any]], list[int]]:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(w), multitask], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for w in range(WRITERS)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0] * WRITERS
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs], [proc.pid for proc in procs]


def test_enqueue_across_processes_keeps_all_40_questions_in_order(tmp_path: Path) -> None:
    db = tmp_path / "threads.db"
    checkpoints.close_sync_saver(checkpoints.sqlite_saver(db))  # the tables exist before the writers race
    results, _ = run_writers(db, "enqueue")
    assert sum(len(r["refused"]) for r in results) == 0
    saver = checkpoints.sqlite_saver(db)
    messages = checkpoints.thread_messages(saver, "shared")
    kept = questions_in(messages)
    assert len(kept) == WRITERS * TURNS == 40 and sorted(kept) == sorted(q for r in results for q in r["accepted"])
    assert_one_turn_after_another(messages, checkpoints.thread_history(saver, "shared"))


def test_reject_across_processes_reports_every_refused_turn_and_keeps_every_accepted_one(tmp_path: Path) -> None:
    db = tmp_path / "threads.db"
    checkpoints.close_sync_saver(checkpoints.sqlite_saver(db))
    results, pids = run_writers(db, "reject")
    accepted = [q for r in results for q in r["accepted"]]
    refused = [x for r in results for x in r["refused"]]
    assert len(accepted) + len(refused) == WRITERS * TURNS
    assert refused, "four writers started at once on one thread: some turns must have found it busy"
    for writer, result in enumerate(results):
        for x in result["refused"]:  # each refusal names another writer's process, and says what to do
            assert x["holder_pid"] in set(pids) - {pids[writer]}
            assert f"thread 'shared' of {os.path.basename(db)} is busy" in x["message"] and f"process {x['holder_pid']}" in x["message"] and "another thread_id" in x["message"]
    saver = checkpoints.sqlite_saver(db)
    messages = checkpoints.thread_messages(saver, "shared")
    assert sorted(questions_in(messages)) == sorted(accepted)  # accepted = kept; no refused question slipped in
    assert_one_turn_after_another(messages, checkpoints.thread_history(saver, "shared"))


# ---------------------------------------------------------------- (b) asyncio tasks and OS threads in one process

async def _task_writers(db: Path, multitask: str) -> tuple[list[str], list[str], list[BaseMessage], list[Any], str]:
    saver = await checkpoints.async_sqlite_saver(db)
    try:
        graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask=multitask)
        accepted: list[str] = []
        refused: list[str] = []

        async def writer(w: int) -> None:
            for n in range(TURNS):
                question = f"task {w} question {n}"
                try:
                    await graph.ainvoke(ask(question), config("shared"))
                    accepted.append(question)
                except ThreadBusyError:
                    refused.append(question)

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        store = (await locks.athread_locks_for(saver)).name
        return accepted, refused, await checkpoints.athread_messages(saver, "shared"), await checkpoints.athread_history(saver, "shared"), store
    finally:
        await checkpoints.close_saver(saver)


@pytest.mark.parametrize("multitask", ["enqueue", "reject"])
def test_asyncio_tasks_on_one_thread(tmp_path: Path, multitask: str) -> None:
    accepted, refused, messages, history, store = asyncio.run(_task_writers(tmp_path / "threads.db", multitask))
    assert store == os.path.realpath(tmp_path / "threads.db")  # the file's locks, not a per-saver table
    assert len(accepted) + len(refused) == WRITERS * TURNS
    assert (refused == []) if multitask == "enqueue" else bool(refused)
    assert sorted(questions_in(messages)) == sorted(accepted)
    assert_one_turn_after_another(messages, history)


def test_os_threads_on_one_thread_enqueue(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask="enqueue")
    workers = [threading.Thread(target=lambda w=w: [graph.invoke(ask(f"thread {w} question {n}"), config("shared")) for n in range(TURNS)])
               for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    messages = checkpoints.thread_messages(saver, "shared")
    assert len(questions_in(messages)) == WRITERS * TURNS
    assert_one_turn_after_another(messages, checkpoints.thread_history(saver, "shared"))


# ---------------------------------------------------------------- (c) different threads stay concurrent

def test_runs_on_different_threads_overlap(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    meet = threading.Barrier(2)  # each model call waits here for the other: only runs in progress together pass
    graph = lessonkit.build_agent(SlowEcho(meet=meet), checkpointer=saver, system="", multitask="reject")
    errors: list[BaseException] = []

    def turn(thread_id: str) -> None:
        try:
            graph.invoke(ask(f"hello {thread_id}"), config(thread_id))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=turn, args=(t,)) for t in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == [] and not meet.broken
    assert checkpoints.list_threads(saver) == ["a", "b"]


def test_async_runs_on_different_threads_overlap(tmp_path: Path) -> None:
    async def main() -> list[str]:
        saver = await checkpoints.async_sqlite_saver(tmp_path / "threads.db")
        try:
            graph = lessonkit.build_agent(SlowEcho(meet={"arrived": 0, "expected": 2}), checkpointer=saver, system="")
            await asyncio.gather(*(graph.ainvoke(ask(f"hello {t}"), config(t)) for t in ("a", "b")))  # TimeoutError if serialized
            return await checkpoints.alist_threads(saver)
        finally:
            await checkpoints.close_saver(saver)

    assert asyncio.run(main()) == ["a", "b"]


# ---------------------------------------------------------------- (d) a killed process leaves nothing locked

KILLED = textwrap.dedent("""
    import sys
    from langchain_core.messages import HumanMessage
    import lessonkit
    from lessonkit import checkpoints
    from tests.test_runs import SlowEcho

    graph = lessonkit.build_agent(SlowEcho(delay=600, say="RUNNING"), checkpointer=checkpoints.sqlite_saver(sys.argv[1]), system="")
    graph.invoke({"messages": [HumanMessage("never answered")]}, {"configurable": {"thread_id": "t"}}, durability="sync")  # saved before the model runs
""")


def test_a_process_killed_mid_run_leaves_the_thread_free(tmp_path: Path) -> None:
    db = tmp_path / "threads.db"
    checkpoints.close_sync_saver(checkpoints.sqlite_saver(db))
    kernel = subprocess.Popen([sys.executable, "-c", KILLED, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert kernel.stdout is not None and kernel.stdout.readline().strip() == "RUNNING"
        graph = lessonkit.build_agent(SlowEcho(), checkpointer=checkpoints.sqlite_saver(db), system="")
        with pytest.raises(ThreadBusyError, match=f"in progress in process {kernel.pid}") as busy:
            graph.invoke(ask("while it runs"), config("t"))
        assert busy.value.holder_pid == kernel.pid and busy.value.thread_id == "t"
    finally:
        kernel.send_signal(signal.SIGKILL)  # what a kernel restart does
        kernel.wait(30)
    graph.invoke(ask("after the kill"), config("t"))  # the kernel let go of the dead process's lock
    assert questions_in(checkpoints.thread_messages(graph.checkpointer, "t")) == ["never answered", "after the kill"]


# ---------------------------------------------------------------- (e) subgraphs and re-entry never wait for themselves

def parent_of_the_agent(saver: Any) -> runs.GuardedGraph:
    """START → agent (the lesson agent as a node) → by_hand (a node that invokes the agent itself), guarded, "enqueue"."""
    agent = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask="enqueue", multitask_timeout=5)

    def by_hand(state: AgentState) -> dict[str, Any]:  # invoked without a config: it inherits the parent's
        return {"messages": agent.invoke({"messages": [HumanMessage("inner")]})["messages"][-1:]}

    async def aby_hand(state: AgentState) -> dict[str, Any]:
        return {"messages": (await agent.ainvoke({"messages": [HumanMessage("inner")]}))["messages"][-1:]}

    builder = StateGraph(AgentState)
    builder.add_node("agent", agent)
    builder.add_node("by_hand", RunnableLambda(by_hand, afunc=aby_hand))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "by_hand")
    return runs.guard(builder.compile(checkpointer=saver), multitask="enqueue", timeout=5)


def test_the_agent_as_a_subgraph_node_of_a_guarded_parent_does_not_wait_for_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decided: list[str | None] = []
    real = runs.locked_thread
    monkeypatch.setattr(guarded_module, "locked_thread", lambda config, saver: decided.append(real(config, saver)) or decided[-1])
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    parent = parent_of_the_agent(saver)
    parent.invoke(ask("outer"), config("t"))
    assert decided == ["t", None, None]  # the root run locks its thread; both subgraph runs are part of it
    chunks = list(parent.stream(ask("again"), config("t"), subgraphs=True))
    assert any(namespace for namespace, _ in chunks)  # the subgraph ran and streamed
    assert questions_in(checkpoints.thread_messages(saver, "t")) == ["outer", "again"]

    async def main() -> list[str]:
        memory = checkpoints.memory_saver()
        await parent_of_the_agent(memory).ainvoke(ask("async"), config("t"))
        return questions_in(await checkpoints.athread_messages(memory, "t"))

    assert asyncio.run(main()) == ["async"]


def test_the_research_pipeline_guarded_runs(tmp_path: Path) -> None:
    from lessonkit.demo_graphs import research_pipeline

    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    pipeline = runs.guard(research_pipeline(SlowEcho(), checkpointer=saver, system=""), multitask="enqueue", timeout=5)
    out = pipeline.invoke(ask("what is new?"), config("p"))
    assert out["messages"][-1].content == "echo: what is new?"


def test_thread_run_holds_the_thread_and_runs_inside_it_re_enter(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask="enqueue", multitask_timeout=5)
    refused: list[BaseException] = []

    def another_client() -> None:  # "reject", so it does not wait; with_config's copy is guarded too
        rejecting = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="").with_config(tags=["copy"])
        with pytest.raises(ThreadBusyError) as caught:
            rejecting.invoke(ask("refused"), config("t"))
        refused.append(caught.value)

    with runs.thread_run(saver, "t"):
        graph.invoke(ask("inside"), config("t"))  # re-enters: no wait for itself
        other = threading.Thread(target=another_client)
        other.start()
        other.join(10)
    assert len(refused) == 1  # another OS thread found it taken
    graph.invoke(ask("after"), config("t"))
    assert questions_in(checkpoints.thread_messages(saver, "t")) == ["inside", "after"]


def test_athread_run_for_servers(tmp_path: Path) -> None:
    async def main() -> tuple[BaseException, list[str]]:
        saver = await checkpoints.async_sqlite_saver(tmp_path / "threads.db")
        try:
            graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="")
            async with runs.athread_run(saver, "t"):
                await graph.ainvoke(ask("inside"), config("t"))
                refused = await asyncio.create_task(_arefused(saver))
            return refused, questions_in(await checkpoints.athread_messages(saver, "t"))
        finally:
            await checkpoints.close_saver(saver)

    refused, kept = asyncio.run(main())
    assert isinstance(refused, ThreadBusyError) and kept == ["inside"]


async def _arefused(saver: Any) -> BaseException:
    claims._HELD.set(frozenset())  # a task started inside the block would re-enter; stand for another client
    with pytest.raises(ThreadBusyError) as caught:
        async with runs.athread_run(saver, "t"):
            pass
    return caught.value


# ---------------------------------------------------------------- the policy's edges

def held_elsewhere(saver: Any, thread_id: str) -> locks.ThreadLocks:
    """Take the thread's lock as another thread of this process would."""
    thread_locks = locks.thread_locks_for(saver)
    assert thread_locks.try_acquire(thread_id, locks.Owner(thread=-1)) is None
    return thread_locks


def shell_outcome(attempt: Any) -> tuple[str, Any]:
    """What one try at a thread's lock came to: taken (and given back), or busy with this message, thread and pid."""
    try:
        attempt()
    except ThreadBusyError as error:
        return "busy", (re.sub(r"Waited \d+\.\d s", "Waited N s", str(error)), error.thread_id, error.holder_pid)
    return "taken", None


@pytest.mark.parametrize("multitask, timeout", [("reject", None), ("enqueue", 0.1)])
def test_the_sync_and_async_shells_take_and_refuse_alike(tmp_path: Path, multitask: str, timeout: float | None) -> None:
    """thread_run and athread_run share one decision: the same thread taken, the same ThreadBusyError refused."""
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")

    def sync_try(thread_id: str) -> None:
        with runs.thread_run(saver, thread_id, multitask=multitask, timeout=timeout):  # type: ignore[arg-type]
            pass

    async def async_try(thread_id: str) -> None:
        async with runs.athread_run(saver, thread_id, multitask=multitask, timeout=timeout):  # type: ignore[arg-type]
            pass

    thread_locks = held_elsewhere(saver, "busy")
    for thread_id in ("free", "busy"):
        sync = shell_outcome(lambda: sync_try(thread_id))
        asynchronous = shell_outcome(lambda: asyncio.run(async_try(thread_id)))
        assert sync == asynchronous, (thread_id, sync, asynchronous)
    assert shell_outcome(lambda: sync_try("free")) == ("taken", None)  # both gave it back
    kind, (message, thread_id, pid) = shell_outcome(lambda: sync_try("busy"))
    assert (kind, thread_id, pid) == ("busy", "busy", os.getpid()) and "in this process" in message
    thread_locks.release("busy")


def test_the_sync_and_async_shells_choose_the_same_locks(tmp_path: Path) -> None:
    """thread_locks_for and athread_locks_for share one decision: a saver's file's locks, else one table of its own."""
    db = tmp_path / "plain.db"
    plain = SqliteSaver(sqlite3.connect(db, check_same_thread=False))  # not made by lessonkit: found from its connection
    memory = checkpoints.memory_saver()
    for saver in (plain, memory):
        assert asyncio.run(locks.athread_locks_for(saver)) is locks.thread_locks_for(saver)
    assert locks.thread_locks_for(plain) is locks.database_locks(db)
    assert isinstance(locks.thread_locks_for(memory), locks.MemoryThreadLocks)
    plain.conn.close()


def test_enqueue_gives_up_after_its_timeout(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask="enqueue", multitask_timeout=0.2)
    thread_locks = held_elsewhere(saver, "t")
    with pytest.raises(ThreadBusyError, match=r"Waited 0\.\d s .*timeout=0\.2 s"):
        graph.invoke(ask("waits"), config("t"))
    thread_locks.release("t")
    graph.invoke(ask("goes"), config("t"))


def test_enqueue_waits_for_the_other_run_then_goes(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask="enqueue", multitask_timeout=30)
    thread_locks = held_elsewhere(saver, "t")
    threading.Timer(0.2, thread_locks.release, ("t",)).start()
    graph.invoke(ask("waited"), config("t"))
    assert questions_in(checkpoints.thread_messages(saver, "t")) == ["waited"]


def test_a_stream_left_open_in_this_thread_refuses_at_once_even_with_enqueue(tmp_path: Path) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="", multitask="enqueue", multitask_timeout=300)
    stream = graph.stream(ask("first"), config("t"))
    next(stream)
    with pytest.raises(ThreadBusyError, match="iterate its stream to the end .* would never end"):
        graph.invoke(ask("second"), config("t"))  # waiting here would wait for ourselves: refused, not hung
    with pytest.raises(ThreadBusyError):
        graph.update_state(config("t"), {"messages": [HumanMessage("edited")]})
    stream.close()  # closing (or finishing) the stream lets go
    graph.invoke(ask("second"), config("t"))


def test_a_cancelled_async_run_and_a_broken_off_stream_let_go(tmp_path: Path) -> None:
    async def main() -> list[str]:
        saver = await checkpoints.async_sqlite_saver(tmp_path / "threads.db")
        try:
            graph = lessonkit.build_agent(SlowEcho(delay=30), checkpointer=saver, system="")
            task = asyncio.create_task(graph.ainvoke(ask("cancelled"), config("t")))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            fast = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="")
            async for _ in fast.astream(ask("broken off"), config("t"), stream_mode="values"):
                break  # the event loop closes the abandoned stream a moment later: the next turn waits for that
            await fast.ainvoke(ask("next"), config("t"))
            kept_open = fast.astream(ask("kept open"), config("t"))
            await anext(kept_open)
            with pytest.raises(ThreadBusyError, match="would never end"):  # this task's own open stream: refused, not hung
                await fast.ainvoke(ask("refused"), config("t"))
            await kept_open.aclose()
            await fast.ainvoke(ask("last"), config("t"))
            return questions_in(await checkpoints.athread_messages(saver, "t"))
        finally:
            await checkpoints.close_saver(saver)

    assert asyncio.run(main())[-4:] == ["broken off", "next", "kept open", "last"]
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=checkpoints.sqlite_saver(tmp_path / "threads.db"), system="")
    for _ in graph.stream(ask("broken off"), config("s")):
        break
    graph.invoke(ask("next"), config("s"))


def test_runs_without_a_saver_or_a_thread_take_no_lock(tmp_path: Path) -> None:
    graph = lessonkit.build_agent(SlowEcho(), system="")
    assert graph.invoke(ask("no saver"), config(None))["messages"][-1].content == "echo: no saver"
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    with pytest.raises(ValueError, match="thread_id"):  # LangGraph's own error, unchanged
        lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="").invoke(ask("no thread"), {})


def test_a_memory_saver_serializes_its_threads_in_this_process() -> None:
    saver = checkpoints.memory_saver()
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="")
    thread_locks = held_elsewhere(saver, "t")
    assert isinstance(thread_locks, locks.MemoryThreadLocks)
    with pytest.raises(ThreadBusyError, match=f"in progress in this process \\(pid {os.getpid()}\\)"):
        graph.invoke(ask("refused"), config("t"))
    graph.invoke(ask("other thread"), config("u"))
    thread_locks.release("t")
    graph.invoke(ask("now"), config("t"))


def test_the_decision_waits_refuses_or_gives_up_and_says_why() -> None:
    me = locks.Owner(thread=1)
    ask = decisions.Ask("t", "/x/threads.db", runs.RunPolicy("enqueue", 1.0), me, blocking=True)
    elsewhere = locks.Holder(4242)
    assert runs.pause_after(ask, None, 0.0) is None  # taken
    pauses = [runs.pause_after(ask, elsewhere, waited) for waited in (0.0, 0.1, 0.5, 0.99)]
    assert pauses[0] == decisions._FIRST_PAUSE_S and all(0 < p <= decisions._LONGEST_PAUSE_S for p in pauses)
    assert pauses[-1] == pytest.approx(0.01)  # never sleeps past the timeout
    with pytest.raises(ThreadBusyError, match=r"Waited 1\.0 s for it \(multitask='enqueue', timeout=1 s\)"):
        runs.pause_after(ask, elsewhere, 1.0)
    with pytest.raises(ThreadBusyError, match="thread 't' of threads.db is busy: another run on it is in progress in process 4242. Two runs") as caught:
        runs.pause_after(replace(ask, policy=runs.RunPolicy()), elsewhere, 0.0)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.thread_id, copy.holder_pid) == (str(caught.value), "t", 4242)
    with pytest.raises(ThreadBusyError, match="would never end"):  # a blocking wait in the holder's own OS thread
        runs.pause_after(ask, locks.Holder(os.getpid(), locks.Owner(thread=1)), 0.0)
    mine, other = object(), object()  # async: another task of the same OS thread can finish; the same task cannot
    aask = replace(ask, me=locks.Owner(1, mine), blocking=False)
    assert runs.pause_after(aask, locks.Holder(os.getpid(), locks.Owner(1, other)), 0.0) == decisions._FIRST_PAUSE_S
    own_stream = locks.Holder(os.getpid(), locks.Owner(1, mine))
    assert runs.pause_after(aask, own_stream, 0.5) == decisions._LONGEST_PAUSE_S  # a moment for the loop to close a stream left by break
    with pytest.raises(ThreadBusyError, match="would never end"):
        runs.pause_after(aask, own_stream, decisions._SETTLE_S)


def test_bad_policies_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="multitask must be 'reject' or 'enqueue', not 'queue'"):
        lessonkit.build_agent(SlowEcho(), multitask="queue")
    with pytest.raises(ValueError, match="0 or more seconds"):
        runs.RunPolicy("enqueue", -1)


# ---------------------------------------------------------------- (f) thread ids

@pytest.mark.parametrize("bad, says", [
    (None, "thread_id is None"),
    (5, "thread_id is int 5, not a string; use the string '5'"),
    ("", "thread_id is empty"),
    ("x" * 10_000, "thread_id is 10000 characters long"),
    ("a\nb", "has the control character '\\\\n' at position 1"),
])
def test_bad_thread_ids_are_refused_clearly(tmp_path: Path, bad: Any, says: str) -> None:
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="")
    for attempt in (lambda: runs.validate_thread_id(bad), lambda: graph.invoke(ask("hi"), config(bad)),
                    lambda: graph.update_state(config(bad), {"messages": []})):
        with pytest.raises(ThreadIdError, match=says) as caught:
            attempt()
        assert f"at most {runs.MAX_THREAD_ID_LENGTH} characters" in str(caught.value)
        assert isinstance(caught.value, ValueError)
    assert checkpoints.list_threads(saver) == []  # no thread named 'None' or '5'


@pytest.mark.parametrize("good", ["1", "alice-chat", "a" * runs.MAX_THREAD_ID_LENGTH, "👩‍💻 Zoë's chat"])
def test_good_thread_ids_pass(good: str) -> None:
    assert runs.validate_thread_id(good) is good


# ---------------------------------------------------------------- (g) what the guard relies on in LangGraph

def test_private_langgraph_apis_the_guard_relies_on() -> None:
    """Fails loudly when a LangGraph upgrade moves what lessonkit/persistence/runs/guarded.py uses (then revisit guard() and _run_config)."""
    import langgraph._internal._config as langgraph_config

    assert guarded_module._run_config is langgraph_config.ensure_config
    builder = StateGraph(AgentState)
    builder.add_node("noop", lambda state: {})
    builder.add_edge(START, "noop")
    compiled = builder.compile()
    assert type(compiled) is CompiledStateGraph, "compile() no longer returns a plain CompiledStateGraph"
    guarded = runs.guard(compiled, multitask="enqueue", timeout=7)
    assert guarded is compiled and type(guarded) is runs.GuardedGraph
    copy = guarded.with_config(tags=["x"])  # copy() rebuilds through __init__
    assert type(copy) is runs.GuardedGraph and copy.lessonkit_runs == runs.RunPolicy("enqueue", 7)
    with pytest.raises(TypeError, match="what StateGraph.compile\\(\\) returns"):
        runs.guard(object())  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:The v3 streaming protocol on Pregel is experimental")
def test_every_entry_point_respects_the_lock(tmp_path: Path) -> None:
    """invoke, batch, stream, update_state and their async forms all go through the guard."""
    saver = checkpoints.sqlite_saver(tmp_path / "threads.db")
    graph = lessonkit.build_agent(SlowEcho(), checkpointer=saver, system="")
    graph.invoke(ask("first"), config("t"))
    thread_locks = held_elsewhere(saver, "t")
    update = {"messages": [HumanMessage("edited")]}
    sync_calls = {
        "invoke": lambda: graph.invoke(ask("x"), config("t")),
        "batch": lambda: graph.batch([ask("x")], config("t")),
        "stream": lambda: list(graph.stream(ask("x"), config("t"))),
        "stream_events v3": lambda: list(graph.stream_events(ask("x"), config("t"), version="v3")),
        "update_state": lambda: graph.update_state(config("t"), update),
    }
    async_calls = {
        "ainvoke": lambda: graph.ainvoke(ask("x"), config("t")),
        "abatch": lambda: graph.abatch([ask("x")], config("t")),
        "astream": lambda: _drain(graph.astream(ask("x"), config("t"))),
        "astream_events v2": lambda: _drain(graph.astream_events(ask("x"), config("t"), version="v2")),
        "aupdate_state": lambda: graph.aupdate_state(config("t"), update),
    }
    for name, call in sync_calls.items():
        with pytest.raises(ThreadBusyError):
            call()
            pytest.fail(f"{name} ran on a busy thread")

    async def each_async() -> None:
        for name, call in async_calls.items():
            with pytest.raises(ThreadBusyError):
                await call()
                pytest.fail(f"{name} ran on a busy thread")

    asyncio.run(each_async())
    assert questions_in(checkpoints.thread_messages(saver, "t")) == ["first"]
    thread_locks.release("t")
    graph.invoke(ask("second"), config("t"))


async def _drain(items: Any) -> None:
    async for _ in items:
        pass
