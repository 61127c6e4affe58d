"""What a client asks a run to do (the SSE body or a WebSocket message), checked and turned into a RunRequest.

Shared by both transports, so ``multitask``, ``on_disconnect``, ``stream_mode`` and ``resume`` mean the
same on either, with the same 422/409 messages.
"""
from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field

from .errors import ApiError
from .events import parse_stream_mode
from .identity import ThreadKey
from .run_manager import RunRequest
from .settings import ServeSettings
from .threads import pending_interrupts


class RunBody(BaseModel):
    """``POST /threads/{thread_id}/runs/stream``: a new ``message``, or a ``resume`` for a paused run."""

    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(None, description="the user's turn; omit when sending resume")
    resume: Any = Field(None, description="answer to a pending interrupt, e.g. 'approve', 'reject' or a reason")
    stream_mode: str | list[str] | None = Field(None, description="extra event families: nodes, model, checkpoints, custom")
    multitask: Literal["reject", "enqueue"] | None = Field(None, description="busy thread: 409 (reject) or wait (enqueue)")
    on_disconnect: Literal["cancel", "continue"] | None = Field(None, description="what the run does when its last client leaves")


def run_request(body: RunBody, key: ThreadKey, settings: ServeSettings) -> RunRequest:
    """The RunRequest for ``body``, or ApiError 422 saying what to send instead."""
    resuming = "resume" in body.model_fields_set
    if resuming == (body.message is not None):
        raise ApiError(422, "send exactly one of 'message' (a new turn) or 'resume' (the answer to a pending interrupt).")
    if body.message is not None and not body.message.strip():
        raise ApiError(422, "message is empty: send the user's text.")
    if body.message is not None and len(body.message) > settings.max_message_chars:
        raise ApiError(422, f"message is {len(body.message):,} characters long; this server accepts at most "
                            f"{settings.max_message_chars:,}. Send a shorter message, or split it over several turns.")
    try:
        extras = parse_stream_mode(body.stream_mode)
    except ValueError as error:
        raise ApiError(422, str(error)) from None
    graph_input: Any = Command(resume=body.resume) if resuming else {"messages": [HumanMessage(body.message)]}
    return RunRequest(key, graph_input, extras, body.multitask or settings.multitask,
                      body.on_disconnect or settings.on_disconnect, resuming)


async def check_resumable(graph: Any, request: RunRequest) -> None:
    """A resume needs a run paused at an interrupt on this thread: 404 or 409 otherwise, before any stream starts."""
    if not request.resumed:
        return
    if not await pending_interrupts(graph, request.key):
        raise ApiError(409, f"thread {request.key.thread_id!r} is not waiting for an answer (no pending interrupt): "
                            "send a new 'message' instead of 'resume'.")
