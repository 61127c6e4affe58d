"""The dashboard's controls: Approve / Reject / Edit arguments at a pause, replay / fork on a checkpoint.

What a click *means* is decided here in pure functions (which review is waiting, what resume value a
button sends, whether edited JSON is usable, which checkpoints can be replayed or forked), so it is
tested without a browser; the widgets only collect the click and hand it to the dashboard
(``steering.Steering``), which starts the run in the background. Widgets only: no text form changes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets

from ..stream.events import InterruptRaised, RunEnd, StreamEvent
from .labels import shorten
from .text import escape
from .thread import StepView, describe_message

APPROVE, REJECT, EDIT = "approve", "reject", "edit"  # the course agent's resume words (lessonkit.agent), and the edit


# -- pure decisions ----------------------------------------------------------------------------------
def pending_review(events: Sequence[StreamEvent]) -> Mapping[str, Any] | None:
    """The review request a run stopped at (``agent.review_request``'s dict), or None.

    Only a run that ended ``interrupted`` has one, and only an interrupt whose value lists tool calls
    is a review: another graph's ``interrupt("what now?")`` gets no approval buttons.
    """
    end = next((e for e in reversed(events) if isinstance(e, RunEnd)), None)
    if end is None or end.status != "interrupted":
        return None
    for event in reversed(events):
        value = event.value if isinstance(event, InterruptRaised) else None
        if isinstance(value, Mapping) and isinstance(value.get("tool_calls"), list) and value["tool_calls"]:
            return value
    return None


def resume_value(action: str, reason: str = "") -> str:
    """What ``Command(resume=...)`` carries for a click: ``"approve"``, ``"reject"``, or the reason typed.

    The agent passes a reason on to the model; an empty reason is a plain ``"reject"``. An edit
    resumes with ``"approve"`` (the arguments were changed in the state first).
    """
    if action in (APPROVE, EDIT):
        return APPROVE
    if action != REJECT:
        raise ValueError(f"unknown decision {action!r}: approve, reject or edit")
    return reason.strip() or REJECT


def args_text(calls: Sequence[Mapping[str, Any]]) -> str:
    """The arguments as the Edit box shows them: one call's object, or a list (one object per call)."""
    args = [dict(c.get("args") or {}) for c in calls]
    return json.dumps(args[0] if len(args) == 1 else args, indent=2, ensure_ascii=False, sort_keys=True)


class ArgsError(ValueError):
    """Edited arguments that cannot be sent; the message says why, in words for the person editing."""


def parse_args_text(text: str, calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The edited arguments, one dict per call in order; ``ArgsError`` when they are not usable.

    Nothing is sent on an error, so the message must say how to fix it: bad JSON (with its line and
    column), not an object, or the wrong number of objects for several calls.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArgsError(f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}); nothing was sent") from None
    if len(calls) == 1:
        data = [data]
    elif not isinstance(data, list) or len(data) != len(calls):
        raise ArgsError(f"expected a JSON list of {len(calls)} objects, one per tool call, in order; nothing was sent")
    for n, args in enumerate(data, 1):
        if not isinstance(args, dict):
            which = f"call {n}'s arguments" if len(calls) > 1 else "the arguments"
            raise ArgsError(f'{which} must be a JSON object, like {{"query": "..."}}; nothing was sent')
    return data


def edited_tool_calls(tool_calls: Sequence[Mapping[str, Any]], new_args: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The AI message's tool calls with new arguments: same names and ids, so the review still matches them."""
    if len(tool_calls) != len(new_args):
        raise ArgsError(f"{len(new_args)} argument objects for {len(tool_calls)} tool calls")
    return [{**dict(call), "args": dict(args)} for call, args in zip(tool_calls, new_args, strict=True)]


def thread_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The thread's plain config (no ``checkpoint_id``): what continues from its newest checkpoint."""
    config = dict(config or {})
    configurable = {k: v for k, v in (config.get("configurable") or {}).items() if k != "checkpoint_id"}
    return {**config, "configurable": configurable}


def checkpoint_config(config: Mapping[str, Any] | None, checkpoint_id: str) -> dict[str, Any]:
    """The config that names one checkpoint of the thread (a replay or fork starts there)."""
    plain = thread_config(config)
    return {**plain, "configurable": {**plain["configurable"], "checkpoint_id": checkpoint_id}}


@dataclass(frozen=True)
class StepActions:
    """What the thread panel offers on one checkpoint."""

    replay: bool
    fork: bool

    def __bool__(self) -> bool:
        return self.replay or self.fork


def step_actions(view: StepView) -> StepActions:
    """Replay a checkpoint that has a step still to run; fork one whose last message is the person's question.

    An ``input`` checkpoint only holds the turn's input (its ``loop`` successor replays the same), and
    a finished turn has nothing to replay. Forking means replacing that question (same message id),
    as the lesson does with ``update_state``.
    """
    can_run = bool(view.next) and view.source != "input"
    asked = view.last_message is not None and view.last_message.type == "human"
    return StepActions(replay=can_run, fork=can_run and asked)


def checkpoint_choices(views: Sequence[StepView]) -> list[tuple[str, str]]:
    """The dropdown's (label, checkpoint id) pairs, newest first: the checkpoints with something to offer."""
    choices = []
    for view in reversed(views):
        actions = step_actions(view)
        if actions:
            last = f" · {describe_message(view.last_message, 50)}" if view.last_message is not None else ""
            choices.append((f"step {view.step} → {', '.join(view.next)}{last}", view.checkpoint_id))
    return choices


def fork_question(view: StepView) -> str:
    """The Edit-the-question box's starting text: the question the checkpoint holds (forking it unchanged asks again)."""
    if view.last_message is None or view.last_message.type != "human":
        return ""
    content = view.last_message.content
    return content if isinstance(content, str) else str(content)


def decided_text(action: str, value: Any, run_number: int) -> str:
    """The line an answered review keeps, so the panel still says what was decided and where it went."""
    words = {APPROVE: "✓ approved", EDIT: "✎ approved with edited arguments", REJECT: "✗ rejected"}[action]
    if action == REJECT and value != REJECT:
        words += f' ("{shorten(str(value), 60)}")'
    return f"{words}: resumed as run {run_number}"


# -- widgets -----------------------------------------------------------------------------------------
CONTROLS_CSS = """<style>
.lk-approval.lk-card { border-color: #bf8700; background: #fff8c5; }
.lk-approval .lk-question { font-size: 13px; color: #1f2328; margin-bottom: 4px; }
.lk-approval .lk-outcome { font-size: 12px; }
.lk-control-message .widget-html-content { white-space: normal; }
.lk-time-travel { border-top: 1px solid #eaeef2; margin-top: 6px; padding-top: 4px; }
</style>"""
AUTO = {"width": "auto", "flex": "0 0 auto"}  # buttons as wide as their words ("Run with these arguments" is not cut)
Decide = Callable[[str, Any], None]  # (action, detail): detail is the reason (reject) or the edited args (edit)


class ApprovalControls:
    """Under the waiting tool cards: the question, Approve / Reject (with an optional reason) / Edit arguments."""

    def __init__(self, review: Mapping[str, Any], decide: Decide) -> None:
        self.review, self.decide = review, decide
        self.calls: list[Mapping[str, Any]] = list(review.get("tool_calls") or [])
        names = ", ".join(escape(str(c.get("name"))) for c in self.calls)
        self.question = widgets.HTML(
            value=f"{CONTROLS_CSS}<div class='lk-question'>Paused · <b>{escape(str(review.get('question') or 'Run these tool calls?'))}</b> · "
                  f"{len(self.calls)} waiting: {names}</div>")
        self.approve = widgets.Button(layout=widgets.Layout(**AUTO), description="Approve", button_style="success", icon="check", tooltip="run the tool calls")
        self.reject = widgets.Button(layout=widgets.Layout(**AUTO), description="Reject", button_style="danger", icon="times", tooltip="answer each call with a rejection")
        self.edit = widgets.Button(layout=widgets.Layout(**AUTO), description="Edit arguments", button_style="info", icon="pencil", tooltip="change the arguments, then run")
        self.reason = widgets.Text(placeholder="reason (optional; the model reads it)", layout=widgets.Layout(width="auto", flex="1"))
        self.args = widgets.Textarea(value=args_text(self.calls), rows=min(12, args_text(self.calls).count("\n") + 2),
                                     layout=widgets.Layout(width="100%"))
        self.args.add_class("lk-edit-args")
        self.run_edited = widgets.Button(layout=widgets.Layout(**AUTO), description="Run with these arguments", button_style="primary", icon="play")
        self.message = widgets.HTML(value="")
        self.message.add_class("lk-control-message")
        self.editor = widgets.VBox([self.args, widgets.HBox([self.run_edited, self.message])], layout=widgets.Layout(display="none"))
        self.outcome = widgets.HTML(value="")
        self.outcome.add_class("lk-outcome")
        self.buttons = (self.approve, self.reject, self.edit, self.run_edited)
        self.widget = widgets.VBox([self.question, widgets.HBox([self.approve, self.reject, self.reason, self.edit]), self.editor, self.outcome])
        self.widget.add_class("lk-card")
        self.widget.add_class("lk-approval")
        self.approve.on_click(lambda _: self._pressed(APPROVE, None))
        self.reject.on_click(lambda _: self._pressed(REJECT, self.reason.value))
        self.edit.on_click(lambda _: self._toggle_editor())
        self.run_edited.on_click(lambda _: self._send_edit())
        self.answered = False

    def _pressed(self, action: str, detail: Any) -> None:
        """Approve or Reject: the edit box (and any complaint about its JSON) no longer applies."""
        self.show_message("")
        self.editor.layout.display = "none"
        self.decide(action, detail)

    def _toggle_editor(self) -> None:
        self.editor.layout.display = None if self.editor.layout.display == "none" else "none"

    def _send_edit(self) -> None:
        try:
            args = parse_args_text(self.args.value, self.calls)
        except ArgsError as error:
            self.show_message(str(error))
            return
        self.show_message("")
        self.decide(EDIT, args)

    def show_message(self, text: str) -> None:
        """A problem with the last click (bad JSON, a run still going), next to the box; empty clears it."""
        self.message.value = f"<span class='lk-error'>{escape(text)}</span>" if text else ""
        if text and self.editor.layout.display == "none" and "JSON" not in text:
            self.outcome.value = self.message.value

    def answer(self, text: str) -> None:
        """The review was answered: every control off for good, and the decision written under it."""
        self.answered = True
        self.set_busy(True)
        self.reason.disabled = self.args.disabled = True
        self.outcome.value = f"<span class='lk-muted'>{escape(text)}</span>"

    def set_busy(self, busy: bool) -> None:
        """Off while a run is in flight (and for good once answered): one click, one resume."""
        for button in self.buttons:
            button.disabled = busy or self.answered


class TimeTravelControls:
    """Under the thread history: pick a checkpoint, then replay from it, or fork it with a changed question."""

    def __init__(self, replay: Callable[[str], None], fork: Callable[[str, str], None]) -> None:
        self.views: dict[str, StepView] = {}
        self.checkpoint = widgets.Dropdown(options=[], description="checkpoint", layout=widgets.Layout(width="auto", flex="1"))
        self.question = widgets.Text(description="question", placeholder="the question on the fork",
                                     layout=widgets.Layout(width="auto", flex="1"))
        self.replay = widgets.Button(layout=widgets.Layout(**AUTO), description="replay from here", icon="repeat", tooltip="run again from this checkpoint (input None)")
        self.fork = widgets.Button(layout=widgets.Layout(**AUTO), description="fork from here", icon="code-fork", button_style="warning",
                                   tooltip="update_state on this checkpoint with the question above, then run from the new checkpoint")
        self.message = widgets.HTML(value="<span class='lk-muted'>no checkpoints to go back to yet</span>")
        self.widget = widgets.VBox([widgets.HTML(value=CONTROLS_CSS, layout=widgets.Layout(height="0px")), widgets.HBox([self.checkpoint, self.replay]), widgets.HBox([self.question, self.fork]), self.message])
        self.widget.add_class("lk-time-travel")
        self.busy = False
        self.checkpoint.observe(lambda _: self._chosen(), names="value")
        self.replay.on_click(lambda _: self.checkpoint.value and replay(self.checkpoint.value))
        self.fork.on_click(lambda _: self.checkpoint.value and fork(self.checkpoint.value, self.question.value))
        self._chosen()

    def show(self, views: Sequence[StepView]) -> None:
        """The current branch's steps (after every run): the choices, newest first, the newest chosen."""
        self.views = {v.checkpoint_id: v for v in views}
        choices = checkpoint_choices(views)
        self.checkpoint.options = choices
        self.checkpoint.value = choices[0][1] if choices else None
        self.message.value = "" if choices else "<span class='lk-muted'>no checkpoints to go back to yet</span>"
        self._chosen()

    def _chosen(self) -> None:
        view = self.views.get(self.checkpoint.value) if self.checkpoint.value else None
        actions = step_actions(view) if view is not None else StepActions(False, False)
        self.question.value = fork_question(view) if view is not None else ""
        self.replay.disabled = self.busy or not actions.replay
        self.fork.disabled = self.busy or not actions.fork
        self.question.disabled = not actions.fork

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._chosen() if not busy else self._disable()

    def _disable(self) -> None:
        self.replay.disabled = self.fork.disabled = True

    def show_message(self, text: str) -> None:
        self.message.value = f"<span class='lk-error'>{escape(text)}</span>" if text else ""
