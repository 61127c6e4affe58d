"""Postgres checkpointers: one database for a whole class, or for several ``lessonkit serve`` instances (issue 11).

``postgres_saver(url)`` and ``await async_postgres_saver(url)`` hand back a ready saver, like the SQLite helpers:
LangGraph's ``PostgresSaver`` / ``AsyncPostgresSaver`` on a psycopg connection pool, with what the saver's users
trip over already handled:

* every pooled connection is ``autocommit=True`` (the saver commits nothing itself), ``row_factory=dict_row`` (it
  reads rows by column name) and ``prepare_threshold=None`` (no server-side prepared statements, which break
  behind PgBouncer in transaction mode and similar poolers);
* ``setup()`` (create tables, run migrations) once, on its own autocommit connection, outside any transaction,
  under an advisory lock so two instances starting together do not race on the migrations table;
* a pooled connection is checked before use (a Postgres restart leaves dead connections in the pool);
* the pool is closed at exit (``close_postgres_saver`` / ``await aclose_postgres_saver`` close it sooner), so
  nothing hangs;
* a wrong host, port, database, user or password raises ``PostgresConnectError`` naming host, port, database
  and user, never the password.

Run locks: every saver on one database gets ``pg_locks.AdvisoryThreadLocks`` (``locks.use_thread_locks``), so one
run per thread holds across processes and machines: two ``lessonkit serve`` instances, or a server and a notebook.
"""
from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from lessonkit.persistence import locks
from lessonkit.support.exit_hooks import at_interpreter_exit
from lessonkit.persistence.pg_locks import AdvisoryThreadLocks
from lessonkit.persistence.postgres_setup import (  # noqa: F401  (re-exported: postgres.check_database(url) etc.)
    CONNECT_TIMEOUT_S, CONNECTION_KWARGS, SETUP_WAIT_S, asetup, check_database,
)
from lessonkit.persistence.postgres_urls import (  # noqa: F401  (re-exported: postgres.describe_url(url) etc.)
    PostgresConnectError, connect_error, describe_url, is_postgres_url, unavailable_error, url_parts,
)

__all__ = [
    "AsyncPostgresSaver",
    "PostgresConnectError",
    "PostgresSaver",
    "aclose_postgres_saver",
    "check_database",
    "async_postgres_saver",
    "close_postgres_saver",
    "describe_url",
    "is_postgres_url",
    "postgres_saver",
]

POOL_TIMEOUT_S = 5.0  # how long a query waits for a pooled connection (the database down: then DatabaseUnavailableError)
# How long the pool keeps reconnecting in the background after a connection is lost. psycopg_pool's default (5 min,
# with backoff doubling from 1 s) would leave a restarted database unused for up to a minute; giving up at once lets
# the next query connect on demand, so the next turn works as soon as the database is back.
RECONNECT_TIMEOUT_S = 1.0
POOL_MAX_SIZE = 10
_POOL_ERRORS = (PoolTimeout, psycopg.Error)


# ---------------------------------------------------------------- run locks, across every process on the database

_LOCKS: dict[str, AdvisoryThreadLocks] = {}
_LOCKS_MUTEX = threading.Lock()


def _lock_session(url: str) -> Callable[[str], psycopg.Connection]:
    def connect(name: str) -> psycopg.Connection:
        try:
            return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, application_name=name,
                                   autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            raise connect_error(url, exc) from None
    return connect


def _share_locks(saver: Any, url: str) -> None:
    """Every saver of this process on one database shares one lock session (advisory locks are per session)."""
    name = f"postgres {describe_url(url)}"
    with _LOCKS_MUTEX:
        table = _LOCKS.get(name)
        if table is None:
            table = _LOCKS[name] = AdvisoryThreadLocks(name, _lock_session(url))
    locks.use_thread_locks(saver, table)


# ---------------------------------------------------------------- savers

_OPEN_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _close_pools_at_exit() -> None:
    for pool in list(_OPEN_POOLS):
        with contextlib.suppress(Exception):
            pool.close(timeout=5)
    _OPEN_POOLS.clear()


# Before the interpreter joins non-daemon threads (as sqlite_savers.py does for aiosqlite).
at_interpreter_exit(_close_pools_at_exit)


def _pool_options(url: str, max_size: int) -> dict[str, Any]:
    """What both kinds of pool are made with (each adds its own ``check``): sizes, timeouts, connection settings."""
    return {"min_size": 1, "max_size": max_size, "kwargs": dict(CONNECTION_KWARGS), "open": False,
            "name": describe_url(url), "timeout": POOL_TIMEOUT_S, "reconnect_timeout": RECONNECT_TIMEOUT_S}


def postgres_saver(url: str, *, max_size: int = POOL_MAX_SIZE) -> PostgresSaver:
    """A Postgres-backed saver, set up and ready to pass to compile(); ``url`` is ``postgresql://user:pw@host:port/db``."""
    check_database(url)
    pool = ConnectionPool(url, check=ConnectionPool.check_connection, **_pool_options(url, max_size))
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except _POOL_ERRORS as exc:
        with contextlib.suppress(Exception):
            pool.close(timeout=1)
        raise connect_error(url, exc) from None
    _OPEN_POOLS.add(pool)
    saver = PostgresSaver(pool)
    _share_locks(saver, url)
    return saver


async def async_postgres_saver(url: str, *, max_size: int = POOL_MAX_SIZE) -> AsyncPostgresSaver:
    """The async twin of postgres_saver() for ainvoke/astream."""
    url_parts(url)
    await asetup(url)
    pool = AsyncConnectionPool(url, check=AsyncConnectionPool.check_connection, **_pool_options(url, max_size))
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except _POOL_ERRORS as exc:
        with contextlib.suppress(Exception):
            await pool.close(timeout=1)
        raise connect_error(url, exc) from None
    saver = AsyncPostgresSaver(pool)
    _share_locks(saver, url)
    return saver


def close_postgres_saver(saver: PostgresSaver) -> None:
    """Close a sync Postgres saver's pool now rather than at exit."""
    pool = saver.conn
    if isinstance(pool, ConnectionPool):
        _OPEN_POOLS.discard(pool)
        pool.close(timeout=5)
    elif isinstance(pool, psycopg.Connection):
        pool.close()


async def aclose_postgres_saver(saver: AsyncPostgresSaver | PostgresSaver) -> None:
    """Close a Postgres saver's pool (either kind)."""
    if isinstance(saver, PostgresSaver):
        close_postgres_saver(saver)
        return
    pool = saver.conn
    if isinstance(pool, AsyncConnectionPool):
        await pool.close(timeout=5)
    elif isinstance(pool, psycopg.AsyncConnection):
        await pool.close()


# ---------------------------------------------------------------- thread listing (used by lessonkit.checkpoints)

# Raw SQL on LangGraph's table: no public "list threads" API (saver.list(None) decodes every checkpoint).
# tests/test_private_apis.py fails, naming this query, if setup() stops creating the table or column.
THREADS_SQL = "SELECT DISTINCT thread_id FROM checkpoints"


def _borrowed(conn: Any, pool_type: type) -> Any:
    """A connection from the saver's pool for the block, or the saver's one connection as it is."""
    return conn.connection() if isinstance(conn, pool_type) else contextlib.nullcontext(conn)


def list_thread_ids(saver: PostgresSaver) -> list[str]:
    """Distinct thread ids in one query, sorted in Python (SQLite's order whatever the collation); via the
    saver's public ``conn`` and ``lock``, not its private ``_cursor``."""
    with saver.lock, _borrowed(saver.conn, ConnectionPool) as c, c.cursor(row_factory=tuple_row) as cur:
        cur.execute(THREADS_SQL)
        return sorted(str(row[0]) for row in cur.fetchall())


async def alist_thread_ids(saver: AsyncPostgresSaver) -> list[str]:
    """Async list_thread_ids()."""
    async with saver.lock, _borrowed(saver.conn, AsyncConnectionPool) as c, c.cursor(row_factory=tuple_row) as cur:
        await cur.execute(THREADS_SQL)
        return sorted(str(row[0]) for row in await cur.fetchall())
