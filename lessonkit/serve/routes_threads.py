"""The thread API: list, history, state, clear, delete, fork. Every thread is the caller's (``thread_key``)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from . import threads
from .identity import ThreadKey, current_user, thread_key
from .state import server

router = APIRouter(tags=["threads"])
MISSING = {404: {"description": "no such thread for this caller"}}
BUSY = {409: {"description": "a run holds the thread"}}


class ForkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    checkpoint_id: str = Field(..., min_length=1, max_length=100, description="a checkpoint of this thread (GET .../state)")


@router.get("/threads")
async def list_threads(request: Request, user: str = Depends(current_user)) -> dict[str, Any]:
    """The caller's threads (never another user's)."""
    ids = await threads.list_threads(server(request).checkpointer, user)
    return {"threads": [{"thread_id": t} for t in ids], "total": len(ids)}


@router.get("/threads/{thread_id}/history", responses=MISSING)
async def thread_history(request: Request, key: ThreadKey = Depends(thread_key)) -> dict[str, Any]:
    """The thread's messages, oldest first, each with type, content and the time it was saved."""
    return await threads.history(server(request).graph, key)


@router.get("/threads/{thread_id}/state", responses=MISSING)
async def thread_state(request: Request, key: ThreadKey = Depends(thread_key)) -> dict[str, Any]:
    """The latest checkpoint: values, next nodes, pending interrupts, checkpoint ids."""
    return await threads.state(server(request).graph, key)


@router.put("/threads/{thread_id}/clear", responses={**MISSING, **BUSY})
async def clear_thread(request: Request, key: ThreadKey = Depends(thread_key)) -> dict[str, Any]:
    """Remove every message (RemoveMessage); the thread and its checkpoint history stay."""
    return await threads.clear(server(request).graph, key)


@router.delete("/threads/{thread_id}", status_code=204, responses={**MISSING, **BUSY})
async def delete_thread(request: Request, key: ThreadKey = Depends(thread_key)) -> Response:
    """Forget the thread: 204, and 404 from then on."""
    await threads.delete(server(request).checkpointer, key)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/fork", responses={**MISSING, **BUSY})
async def fork_thread(body: ForkBody, request: Request, key: ThreadKey = Depends(thread_key)) -> dict[str, Any]:
    """Time travel: make ``checkpoint_id``'s values the thread's latest state; returns the new checkpoint."""
    return await threads.fork(server(request).graph, key, body.checkpoint_id)
