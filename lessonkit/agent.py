"""The course's lesson agent: an llm ⇄ action loop on StateGraph, compiled with a checkpointer.

It keeps the shape of the course's ``Agent`` class (system prompt, tools bound, every tool call run,
results appended) so lessons can point at the same graph, and works both with ``invoke``/``stream``
(SqliteSaver) and ``ainvoke``/``astream`` (AsyncSqliteSaver). Each node has thin sync and async shells over
one body, so both behave alike: a turn's tool calls run at once (as LangGraph's ToolNode runs them), answered in order.

``build_agent(..., approve_tools=True)`` adds a human approval step: a ``review`` node between
``llm`` and ``action`` that pauses the run with ``langgraph.types.interrupt`` and waits for
``Command(resume="approve")`` (run the tools) or ``Command(resume="reject")`` / a reason string
(answer each call with a rejection the model reads, and go back to ``llm``).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Annotated, Any, Mapping, Sequence, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.runnables.config import ContextThreadPoolExecutor, get_executor_for_config
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from .support.redact import redact, redact_data, redacted_errors

COURSE_PROMPT = """You are a smart research assistant. Use the search engine to look up information. \
You are allowed to make multiple calls (either together or in sequence). \
Only look up information when you are sure of what you want. \
If you need to look up some information before asking a follow up question, you are allowed to do that!
"""


class AgentState(TypedDict):
    """The conversation. ``add_messages`` appends, and replaces a message that has the same id."""

    messages: Annotated[list[AnyMessage], add_messages]


def tool_error_message(call: dict[str, Any], error: BaseException) -> ToolMessage:
    """A failed tool call as the model sees it: it can apologise or try again, the graph goes on.

    Redacted, since the model, the checkpoint and the notebook all keep it (a proxy's error may quote a key).
    """
    return ToolMessage(
        tool_call_id=call["id"], name=call["name"], status="error", content=redact(f"Error: {type(error).__name__}: {error}")
    )


APPROVE = "approve"
REJECT = "reject"
REJECTED_TOOL_CALL = "The user rejected this tool call; it did not run."


def review_request(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the ``review`` node hands to ``interrupt()``: the calls waiting, and how to answer.

    It is plain data (JSON-friendly), so it prints readably in a notebook and travels to any client
    that shows the question to a person (the ``__interrupt__`` update carries it as ``Interrupt.value``).
    """
    return {
        "question": "Run these tool calls?",
        "tool_calls": [{"name": c["name"], "args": dict(c["args"]), "id": c["id"]} for c in calls],
        "resume_with": f"{APPROVE} | {REJECT} | a reason for rejecting",
    }


def rejection_messages(calls: Sequence[dict[str, Any]], decision: Any) -> list[ToolMessage]:
    """One ToolMessage per rejected call, so the history stays valid and the model knows why.

    ``decision`` is what the run was resumed with: ``"reject"`` (or ``False``) gives a plain
    rejection; any other string is the person's reason and is passed on to the model.
    """
    reason = decision.strip() if isinstance(decision, str) and decision.strip().lower() != REJECT else ""
    content = redact(f"{REJECTED_TOOL_CALL} Reason: {reason}") if reason else REJECTED_TOOL_CALL
    return [ToolMessage(tool_call_id=c["id"], name=c["name"], status="error", content=content) for c in calls]


def is_approval(decision: Any) -> bool:
    """``"approve"`` (any case) or ``True`` approves; everything else rejects, the safe default."""
    return decision is True or (isinstance(decision, str) and decision.strip().lower() == APPROVE)


class LessonAgent:
    """Builds the graph: ``llm`` calls the model, ``action`` runs the tools it asked for.

    With ``approve_tools=True`` a ``review`` node sits between them and asks a person first.
    """

    def __init__(
        self, model: BaseChatModel, tools: Sequence[BaseTool], system: str = COURSE_PROMPT, *, approve_tools: bool = False,
        tool_timeout: float | None = None,
    ) -> None:
        self.system = system
        self.tool_timeout = tool_timeout
        self.tools = {t.name: t for t in tools}
        self.model = model.bind_tools(list(tools)) if tools else model
        self.approve_tools = approve_tools

    def _prompt(self, state: AgentState) -> list[AnyMessage]:
        return ([SystemMessage(content=self.system)] if self.system else []) + answer_dangling_tool_calls(state["messages"])

    def call_model(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        with redacted_errors():  # LangGraph checkpoints repr(error) and the cell shows it: no key in either
            return {"messages": [self.model.invoke(self._prompt(state))]}

    async def acall_model(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        with redacted_errors():
            return {"messages": [await self.model.ainvoke(self._prompt(state))]}

    def take_action(self, state: AgentState, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
        """Run every requested tool at once, as LangGraph's ToolNode does: threads, answers in call order."""
        calls = state["messages"][-1].tool_calls
        # ToolNode's executor: each thread gets the node's context (tool callbacks stay under this run), max_concurrency holds.
        with get_executor_for_config(config) as pool:
            return {"messages": list(pool.map(self._run_one, calls))}

    async def atake_action(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        """The async twin: the same tool calls at once on the event loop, answers in call order."""
        calls = state["messages"][-1].tool_calls
        return {"messages": list(await asyncio.gather(*(self._arun_one(call) for call in calls)))}

    def _tool_for(self, call: dict[str, Any]) -> BaseTool | ToolMessage:
        """The tool to run, or the answer when there is none to run (the model named a tool that does not exist)."""
        if call["name"] in self.tools:
            return self.tools[call["name"]]
        return tool_error_message(call, LookupError(f"no tool named {call['name']!r}; the tools are {sorted(self.tools)}"))

    def _answer(self, call: dict[str, Any], result: Any = None, error: Exception | None = None) -> ToolMessage:
        """What the model reads back for one call, from either shell: the result, or the failure as an error message."""
        if isinstance(error, _NoAnswerInTime):
            error = TimeoutError(f"tool {call['name']!r} gave no answer within {self.tool_timeout:g} s")
        return tool_error_message(call, error) if error is not None else _as_message(call, result)

    def _run_one(self, call: dict[str, Any]) -> ToolMessage:
        """Sync shell: invoke the tool (in its own thread when it has a deadline), then ``_answer``."""
        tool = self._tool_for(call)
        if isinstance(tool, ToolMessage):
            return tool
        try:
            return self._answer(call, _invoke_in_time(tool, call["args"], self.tool_timeout))
        except Exception as error:  # noqa: BLE001 - the model should see the failure, not the student a traceback
            return self._answer(call, error=error)

    async def _arun_one(self, call: dict[str, Any]) -> ToolMessage:
        """Async shell: await the tool (cancelled at its deadline), then ``_answer``."""
        tool = self._tool_for(call)
        if isinstance(tool, ToolMessage):
            return tool
        try:
            return self._answer(call, await _ainvoke_in_time(tool, call["args"], self.tool_timeout))
        except Exception as error:  # noqa: BLE001
            return self._answer(call, error=error)

    def review(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        """Pause for a person's decision on the pending tool calls (``interrupt`` re-runs this on resume)."""
        calls = state["messages"][-1].tool_calls
        decision = interrupt(review_request(calls))
        if is_approval(decision):
            return {"messages": []}
        return {"messages": rejection_messages(calls, decision)}

    async def areview(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        return self.review(state)

    @staticmethod
    def has_tool_calls(state: AgentState) -> bool:
        return bool(state["messages"] and getattr(state["messages"][-1], "tool_calls", None))  # empty: cleared thread

    def graph(self) -> StateGraph:
        graph = StateGraph(AgentState)
        graph.add_node("llm", RunnableLambda(self.call_model, afunc=self.acall_model, name="llm"))
        graph.add_node("action", RunnableLambda(self.take_action, afunc=self.atake_action, name="action"))
        graph.add_edge(START, "llm")
        if self.approve_tools:
            graph.add_node("review", RunnableLambda(self.review, afunc=self.areview, name="review"))
            graph.add_conditional_edges("llm", self.has_tool_calls, {True: "review", False: END})
            # approved: the AI message with its calls is still last; rejected: the rejections are.
            graph.add_conditional_edges("review", self.has_tool_calls, {True: "action", False: "llm"})
        else:
            graph.add_conditional_edges("llm", self.has_tool_calls, {True: "action", False: END})
        graph.add_edge("action", "llm")
        return graph


def show_update(update: Mapping[str, Any]) -> None:
    """Print one ``stream_mode="updates"`` chunk of the course agent: each node's new messages, and any pause.

    Lessons stream the agent many times; this keeps those cells to the stream call itself and copes
    with what a live model may do (a node that adds nothing, an extra tool call that pauses at
    ``review``). A pause arrives as ``{"__interrupt__": (Interrupt(value=..., id=...), ...)}``; the id
    differs on every run, so only the value is printed.
    """
    for node, change in update.items():
        if node == "__interrupt__":
            for pending in change:
                print(f"--- {node}: {pending.value}")
            continue
        messages = (change or {}).get("messages", []) if isinstance(change, Mapping) else []
        print(f"--- {node}" + ("" if messages else ": no new messages"))
        for message in messages:
            message.pretty_print()


def answer_dangling_tool_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """Fill in tool results that never came (a run stopped mid-tool), so the next request is valid.

    OpenAI rejects a history where an assistant tool call has no tool message after it. A run
    cancelled between the model's decision and the tool's answer leaves exactly that in the thread;
    the model is told the call was cancelled instead of the whole thread becoming unusable.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    out: list[AnyMessage] = []
    for message in messages:
        out.append(message)
        missing = [c for c in getattr(message, "tool_calls", None) or () if c["id"] not in answered]
        if missing:
            out += [tool_error_message(c, CancelledToolCall("the run was stopped before this tool answered")) for c in missing]
    return out


class CancelledToolCall(Exception):
    """Stands for a tool call whose run was stopped before it answered."""


def _as_message(call: dict[str, Any], result: Any) -> ToolMessage:
    """A tool's answer as the model sees it, redacted (a search result or error may quote a key)."""
    if isinstance(result, ToolMessage):
        return result.model_copy(update={"content": redact_data(result.content), "artifact": redact_data(result.artifact)})
    return ToolMessage(tool_call_id=call["id"], name=call["name"], content=redact(str(result)))


class _NoAnswerInTime(Exception):
    """The tool's deadline passed (told apart from a TimeoutError the tool raised itself)."""


def _invoke_in_time(tool: BaseTool, args: dict[str, Any], timeout: float | None) -> Any:
    """``tool.invoke(args)``; with a deadline, in a thread of its own that a hung tool keeps while the run goes on."""
    if timeout is None:
        return tool.invoke(args)
    pool = ContextThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(tool.invoke, args)
        if not concurrent.futures.wait([future], timeout).done:
            raise _NoAnswerInTime()
        return future.result()
    finally:
        pool.shutdown(wait=False)


async def _ainvoke_in_time(tool: BaseTool, args: dict[str, Any], timeout: float | None) -> Any:
    """``await tool.ainvoke(args)``; with a deadline, cancelled when it passes."""
    if timeout is None:
        return await tool.ainvoke(args)
    task = asyncio.ensure_future(tool.ainvoke(args))
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        raise _NoAnswerInTime()
    return task.result()


def build_agent(
    model: BaseChatModel,
    tools: Sequence[BaseTool] = (),
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    system: str = COURSE_PROMPT,
    interrupt_before: Sequence[str] | None = None,
    approve_tools: bool = False,
    tool_timeout: float | None = None,
    multitask: str = "reject",
    multitask_timeout: float | None = None,
) -> CompiledStateGraph:
    """The course agent, compiled. Pass a saver from ``lessonkit.checkpoints`` to give it memory.

    ``approve_tools=True`` pauses before any tool runs (a ``review`` node calling ``interrupt``) until
    the run is resumed with ``Command(resume="approve")``, or ``"reject"`` / a reason string. Pausing
    needs a checkpointer, since the paused run is kept in it. ``tool_timeout`` (seconds): a tool that
    gives no answer in time becomes an error ToolMessage the model sees, instead of a run that hangs.

    One run at a time per thread (``lessonkit.persistence.runs``), even from several processes on one SQLite file: a
    turn sent while another runs on the same thread raises ``ThreadBusyError`` (``multitask="reject"``)
    or waits for its turn (``multitask="enqueue"``, at most ``multitask_timeout`` seconds, ``runs.ENQUEUE_TIMEOUT_S`` by default).
    """
    from .persistence.runs import guard  # here, not at the top: this function is the agent's only link to the run locks

    agent = LessonAgent(model, tools, system, approve_tools=approve_tools, tool_timeout=tool_timeout)
    graph = agent.graph().compile(checkpointer=checkpointer, interrupt_before=interrupt_before)
    return guard(graph, multitask=multitask, timeout=multitask_timeout)  # type: ignore[arg-type]
