"""Checkpointer helpers that hand back a ready saver (no context-manager trap).

In-memory and file-backed, sync and async, plus helpers to list threads, read a thread's
messages and history, and delete a thread. Async savers are closed at exit, so nothing hangs.
"""
from __future__ import annotations

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from lessonkit import postgres as _pg
from lessonkit.persistence.checkpoint_summaries import (
    CheckpointSummary, history, latest_messages, thread_config, thread_ids,
)
from lessonkit.persistence.database_files import (  # noqa: F401  (re-exported: checkpoints.database_path(name) etc.)
    DATA_DIR_VARIABLE, LANGGRAPH_TABLES, SQLITE_HEADER, data_folder, database_path, foreign_reason, remove_database,
)
from lessonkit.errors import ThreadNotFoundError
from lessonkit.postgres import (  # noqa: F401  (re-exported: checkpoints.postgres_saver(url) etc.)
    aclose_postgres_saver,
    async_postgres_saver,
    close_postgres_saver,
    postgres_saver,
)
from lessonkit.persistence.runs import athread_run, thread_run, validate_thread_id
from lessonkit.persistence.sqlite_savers import (  # noqa: F401  (re-exported: checkpoints.sqlite_saver(path) etc.)
    async_sqlite_saver, close_saver, close_sync_saver, memory_saver, sqlite_saver,
)

_SYNC_POSTGRES: tuple[type, ...] = (_pg.PostgresSaver,)
_ASYNC_POSTGRES: tuple[type, ...] = (_pg.AsyncPostgresSaver,)
# Raw SQL on the saver's table (no public "list threads" API; saver.list(None) decodes every checkpoint):
# tests/test_private_apis.py fails, naming it, if setup() stops creating these tables or that column.
SQLITE_THREADS_SQL = "SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id"


def _no_async_saver(saver: BaseCheckpointSaver) -> None:
    if isinstance(saver, (AsyncSqliteSaver, *_ASYNC_POSTGRES)):
        raise TypeError("this is an async saver: use the a-prefixed helper (await alist_threads(...) etc.)")


def _sync_only(saver: BaseCheckpointSaver) -> bool:
    """A sync-only saver: its a-methods raise NotImplementedError, so the async helpers use the sync ones."""
    return isinstance(saver, (SqliteSaver, *_SYNC_POSTGRES))


def _require_stored(thread_id: str, known: list[str]) -> None:
    """ThreadNotFoundError (naming the threads there are) unless the thread is stored."""
    if thread_id not in known:
        raise ThreadNotFoundError(thread_id, known)


# ---------------------------------------------------------------- sync helpers

def list_threads(saver: BaseCheckpointSaver) -> list[str]:
    """Distinct thread ids stored in the saver, sorted: 'what conversations does this DB hold?'."""
    _no_async_saver(saver)
    if isinstance(saver, SqliteSaver):  # one cheap query instead of decoding every checkpoint
        with saver.cursor(transaction=False) as cur:
            cur.execute(SQLITE_THREADS_SQL)
            return [str(row[0]) for row in cur.fetchall()]
    if isinstance(saver, _SYNC_POSTGRES):
        return _pg.list_thread_ids(saver)
    return thread_ids(saver.list(None))


def thread_messages(saver: BaseCheckpointSaver, thread_id: str) -> list[BaseMessage]:
    """The `messages` channel of the thread's latest checkpoint, without needing the graph."""
    thread_id = validate_thread_id(thread_id)
    _no_async_saver(saver)
    tup = saver.get_tuple(thread_config(thread_id))
    if tup is None:
        raise ThreadNotFoundError(thread_id, list_threads(saver))
    return latest_messages(tup)


def thread_history(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointSummary]:
    """Every checkpoint of the thread, oldest first: the 'time travel' view of a conversation."""
    thread_id = validate_thread_id(thread_id)
    _no_async_saver(saver)
    tuples = list(saver.list(thread_config(thread_id)))
    if not tuples:
        raise ThreadNotFoundError(thread_id, list_threads(saver))
    return history(tuples)


def delete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Forget one conversation (its checkpoints and pending writes); other threads are kept.

    Waits for nothing: a thread with a run going raises ThreadBusyError instead of vanishing under it.
    """
    thread_id = validate_thread_id(thread_id)
    _require_stored(thread_id, list_threads(saver))
    with thread_run(saver, thread_id):
        saver.delete_thread(thread_id)


# ---------------------------------------------------------------- async helpers

async def alist_threads(saver: BaseCheckpointSaver) -> list[str]:
    """Async list_threads(), for AsyncSqliteSaver and AsyncPostgresSaver (any saver works)."""
    if _sync_only(saver):
        return list_threads(saver)
    if isinstance(saver, AsyncSqliteSaver):
        await saver.setup()
        async with saver.lock, saver.conn.execute(SQLITE_THREADS_SQL) as cur:
            return [str(row[0]) for row in await cur.fetchall()]
    if isinstance(saver, _ASYNC_POSTGRES):
        return await _pg.alist_thread_ids(saver)
    return thread_ids([t async for t in saver.alist(None)])


async def athread_messages(saver: BaseCheckpointSaver, thread_id: str) -> list[BaseMessage]:
    """Async thread_messages()."""
    thread_id = validate_thread_id(thread_id)
    if _sync_only(saver):
        return thread_messages(saver, thread_id)
    tup = await saver.aget_tuple(thread_config(thread_id))
    if tup is None:
        raise ThreadNotFoundError(thread_id, await alist_threads(saver))
    return latest_messages(tup)


async def athread_history(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointSummary]:
    """Async thread_history()."""
    thread_id = validate_thread_id(thread_id)
    if _sync_only(saver):
        return thread_history(saver, thread_id)
    tuples = [t async for t in saver.alist(thread_config(thread_id))]
    if not tuples:
        raise ThreadNotFoundError(thread_id, await alist_threads(saver))
    return history(tuples)


async def adelete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Async delete_thread()."""
    if _sync_only(saver):
        return delete_thread(saver, thread_id)
    thread_id = validate_thread_id(thread_id)
    _require_stored(thread_id, await alist_threads(saver))
    async with athread_run(saver, thread_id):
        await saver.adelete_thread(thread_id)
