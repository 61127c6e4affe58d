"""Steering a dashboard's thread: answer a pause (approve, reject, edit) or go back (replay, fork).

Each method starts a background run on the graph and thread of the dashboard's last run (the
``Dashboard.start`` path), so the panels follow it and the cell, or the button's click, returns at
once; ``await dash.wait()`` (or awaiting the returned task) gives its report. The buttons call these
same methods, so code and tests press them exactly as a person does.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence

from langchain_core.messages import HumanMessage
from langgraph.types import Command

from .controls import (
    APPROVE, EDIT, REJECT, ApprovalControls, ArgsError, TimeTravelControls, checkpoint_config, decided_text,
    edited_tool_calls, fork_question, parse_args_text, pending_review, resume_value, step_actions, thread_config,
)
from .labels import shorten, thread_label
from .thread import StepView

if TYPE_CHECKING:
    from .report import RunReport
    from .thread import ThreadPanel
    from .tools import ToolDecisionsPanel

Prepare = Callable[[], Awaitable[Mapping[str, Any]]]  # runs first, in the background task: returns the config to run with


class Steering:
    """The Dashboard's controls half: needs ``_launch``, ``_busy``, ``runs``, ``tools`` and ``thread`` from it."""

    tools: "ToolDecisionsPanel"
    thread: "ThreadPanel"
    runs: list[Any]

    def _init_steering(self) -> None:
        self.pending: Mapping[str, Any] | None = None  # the review the last run stopped at, until answered
        self.approval: ApprovalControls | None = None
        self.time_travel = TimeTravelControls(self._clicked(self.replay), self._clicked(self.fork))
        self._target: tuple[Any, dict[str, Any], dict[str, Any]] | None = None  # graph, thread config, run kwargs

    def _launch(self, graph: Any, inputs: Any, config: Mapping[str, Any] | None, *, label: str | None = None,
                prepare: Prepare | None = None, **kwargs: Any) -> "asyncio.Task[RunReport]":
        raise NotImplementedError  # Dashboard's

    def _busy(self) -> bool:
        raise NotImplementedError  # Dashboard's

    # -- answering a pause -------------------------------------------------------------------------
    def resume(self, value: Any) -> "asyncio.Task[RunReport]":
        """``Command(resume=value)`` on the paused thread, in the background (any value the graph's interrupt accepts)."""
        graph, config, kwargs = self._thread_target()
        if self._busy():
            raise RuntimeError("a run is still going: wait for it before resuming")
        self._settle(f"resumed with {shorten(repr(value), 60)}: run {len(self.runs) + 1}")
        return self._launch(graph, Command(resume=value), config, **kwargs)

    def approve(self) -> "asyncio.Task[RunReport]":
        """Run the tool calls the review is waiting on (the Approve button)."""
        return self._decide(APPROVE, None)

    def reject(self, reason: str = "") -> "asyncio.Task[RunReport]":
        """Answer each waiting call with a rejection (the Reject button); a reason is passed on to the model."""
        return self._decide(REJECT, reason)

    def edit(self, args: Mapping[str, Any] | Sequence[Mapping[str, Any]] | str) -> "asyncio.Task[RunReport]":
        """Run the waiting calls with other arguments: one call's dict, a list (one per call), or that as JSON text.

        The AI message's tool calls are replaced in the state (``update_state`` as ``llm``, same ids),
        then the run resumes with ``"approve"``: the agent's review accepts approve or reject only.
        """
        review = self._waiting()
        calls = review["tool_calls"]
        if isinstance(args, str):
            new_args = parse_args_text(args, calls)
        else:
            new_args = [dict(args)] if isinstance(args, Mapping) else [dict(a) for a in args]
            if len(new_args) != len(calls):
                raise ArgsError(f"{len(new_args)} argument objects for {len(calls)} tool calls")
        return self._decide(EDIT, new_args)

    def _waiting(self) -> Mapping[str, Any]:
        if self.pending is None:
            raise RuntimeError("nothing is waiting for a decision: the dashboard's last run did not stop at a review")
        return self.pending

    def _decide(self, action: str, detail: Any) -> "asyncio.Task[RunReport]":
        review = self._waiting()
        if self._busy():
            raise RuntimeError("a run is still going: wait for it before answering")
        graph, config, kwargs = self._thread_target()
        value = resume_value(action, detail if action == REJECT and detail else "")
        prepare = self._edit_step(graph, config, detail) if action == EDIT else None
        if action == EDIT:  # the tool's card in the resumed run shows what it runs with
            self.tools.edited.update({call["id"]: args for call, args in zip(review["tool_calls"], detail, strict=True)})
        self._settle(decided_text(action, value, len(self.runs) + 1))
        label = f"{thread_label(config['configurable'].get('thread_id'))} · {action}"
        if action == REJECT and value != REJECT:
            label += f' "{shorten(value, 30)}"'
        return self._launch(graph, Command(resume=value), config, label=label, prepare=prepare, **kwargs)

    @staticmethod
    def _edit_step(graph: Any, config: dict[str, Any], new_args: list[dict[str, Any]]) -> Prepare:
        """First, in the background run: the waiting AI message's calls get the new arguments (same message id: replaced)."""
        async def prepare() -> Mapping[str, Any]:
            state = await _aget_state(graph, config)
            asked = state.values["messages"][-1]
            calls = edited_tool_calls(asked.tool_calls, new_args)
            await _aupdate_state(graph, config, {"messages": [asked.model_copy(update={"tool_calls": calls})]}, as_node="llm")
            return config
        return prepare

    def _settle(self, text: str | None) -> None:
        """The waiting review is answered (``text`` says how) or left behind by another run: its buttons go off."""
        if self.approval is not None and not self.approval.answered:
            self.approval.answer(text or f"not answered here: run {len(self.runs) + 1} went on without it")
        self.pending = None

    # -- going back ---------------------------------------------------------------------------------
    def replay(self, checkpoint: str | int) -> "asyncio.Task[RunReport]":
        """Run again from a checkpoint of the current branch (its id, or its step number), input None."""
        graph, config, kwargs = self._thread_target()
        view = self._step(checkpoint)
        if not step_actions(view).replay:
            raise ValueError(f"step {view.step} has nothing to replay (a finished turn, or a turn's input)")
        self._settle(None)
        label = f"{thread_label(config['configurable'].get('thread_id'))} · replay from step {view.step}"
        return self._launch(graph, None, checkpoint_config(config, view.checkpoint_id), label=label, **kwargs)

    def fork(self, checkpoint: str | int, question: str | None = None) -> "asyncio.Task[RunReport]":
        """Fork at a checkpoint holding a question: replace it (same message id, ``update_state``), run the fork.

        ``question`` None or empty asks the same question again on a new branch.
        """
        graph, config, kwargs = self._thread_target()
        view = self._step(checkpoint)
        if not step_actions(view).fork or view.last_message is None:
            raise ValueError(f"step {view.step} holds no question waiting for the model: fork a checkpoint whose last message is human")
        text = (question or "").strip() or fork_question(view)
        message = HumanMessage(text, id=view.last_message.id)
        at = checkpoint_config(config, view.checkpoint_id)

        async def prepare() -> Mapping[str, Any]:
            return await _aupdate_state(graph, at, {"messages": [message]})

        self._settle(None)
        label = f'{thread_label(config["configurable"].get("thread_id"))} · fork at step {view.step} · "{shorten(text, 40)}"'
        return self._launch(graph, None, at, label=label, prepare=prepare, **kwargs)

    def _step(self, checkpoint: str | int) -> StepView:
        found = [v for v in self.thread.steps if (v.step == checkpoint if isinstance(checkpoint, int) else v.checkpoint_id == checkpoint)]
        if not found:
            raise LookupError(f"no checkpoint {checkpoint!r} on the thread's current branch (the thread panel lists them)")
        return found[-1]

    def _thread_target(self) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        if self._target is None:
            raise RuntimeError("run the dashboard on a thread first (a graph with a checkpointer and a thread_id)")
        return self._target

    # -- the controls follow the runs ---------------------------------------------------------------
    def _controls_busy(self) -> None:
        """A run begins: every control goes off until it ends (two runs must not mix in one set of panels)."""
        self._settle(None)
        self.time_travel.set_busy(True)

    def _controls_after(self, current: list[Any], graph: Any, config: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> None:
        """A run ended: offer what now makes sense (a pause's buttons, the branch's checkpoints)."""
        steerable = (config or {}).get("configurable", {}).get("thread_id") is not None and getattr(graph, "checkpointer", None) is not None
        if steerable:
            self._target = (graph, thread_config(config), kwargs)
        self.pending = pending_review(current)
        if self.pending is not None and self._target is not None:
            self.approval = ApprovalControls(self.pending, self._decided_by_click)
            self.tools.add_controls(self.approval.widget)
        if graph is not None:  # (None: a run stopped before it began changed nothing)
            self.time_travel.show(self.thread.steps if steerable else [])
        self.time_travel.set_busy(False)

    def _decided_by_click(self, action: str, detail: Any) -> None:
        """A button: the same methods as code, with a refusal shown next to the buttons instead of raised."""
        approval = self.approval
        try:
            {APPROVE: lambda: self.approve(), REJECT: lambda: self.reject(detail or ""), EDIT: lambda: self.edit(detail)}[action]()
        except (RuntimeError, ValueError) as error:
            if approval is not None:
                approval.show_message(str(error))

    def _clicked(self, method: Callable[..., Any]) -> Callable[..., None]:
        def click(*args: Any) -> None:
            try:
                method(*args)
            except (RuntimeError, ValueError, LookupError) as error:
                self.time_travel.show_message(str(error))
        return click


async def _aget_state(graph: Any, config: Mapping[str, Any]) -> Any:
    try:
        return await graph.aget_state(config)
    except NotImplementedError:  # a sync SqliteSaver
        return graph.get_state(config)


async def _aupdate_state(graph: Any, config: Mapping[str, Any], values: Any, as_node: str | None = None) -> Mapping[str, Any]:
    """``aupdate_state``, or the sync one for a sync saver; the root namespace named (InMemorySaver.aput needs it)."""
    config = {**config, "configurable": {"checkpoint_ns": "", **config["configurable"]}}
    try:
        return await graph.aupdate_state(config, values, as_node=as_node)
    except NotImplementedError:
        return graph.update_state(config, values, as_node=as_node)
