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

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from lessonkit import locks
from lessonkit.errors import CheckpointPathError, DatabaseUnavailableError
from lessonkit.exit_hooks import at_interpreter_exit
from lessonkit.pg_locks import AdvisoryThreadLocks
from lessonkit.redact import redact

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

CONNECT_TIMEOUT_S = 10
POOL_TIMEOUT_S = 5.0  # how long a query waits for a pooled connection (the database down: then DatabaseUnavailableError)
# How long the pool keeps reconnecting in the background after a connection is lost. psycopg_pool's default (5 min,
# with backoff doubling from 1 s) would leave a restarted database unused for up to a minute; giving up at once lets
# the next query connect on demand, so the next turn works as soon as the database is back.
RECONNECT_TIMEOUT_S = 1.0
POOL_MAX_SIZE = 10
CONNECTION_KWARGS: dict[str, Any] = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": None}
_SETUP_LOCK_KEY = 0x6C6B5F7067  # pg_advisory_lock key held while setup() runs ("lk_pg")


class PostgresConnectError(CheckpointPathError):
    """Cannot connect to (or set up) the Postgres database; the message names the host, never the password."""


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def _parts(url: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise PostgresConnectError(f"not a Postgres connection URL ({_scrub(str(exc), url)}); expected "
                                   "postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from None


def describe_url(url: str) -> str:
    """``user@host:port/database``: what a message may say about a URL (no password)."""
    p = _parts(url)
    host = p.get("host") or p.get("hostaddr") or "localhost (socket)"
    return f"{p.get('user') or '(default user)'}@{host}:{p.get('port') or 5432}/{p.get('dbname') or '(default database)'}"


def _scrub(text: str, url: str) -> str:
    """Error text with the URL's password (and the URL itself) taken out, then lessonkit's usual redaction."""
    password = None
    with contextlib.suppress(Exception):
        password = conninfo_to_dict(url).get("password")
    text = text.replace(url, "<url>")
    if password:
        text = text.replace(str(password), "[redacted password]")
    return redact(text)


def _connect_error(url: str, exc: BaseException, doing: str = "connect to") -> PostgresConnectError:
    reason = " ".join(_scrub(str(exc), url).split()) or type(exc).__name__
    return PostgresConnectError(f"cannot {doing} the Postgres checkpoint database {describe_url(url)}: {reason}. "
                                "Check the host, port, database name, user and password in the URL, and that "
                                "the server is running and accepts connections from here.")


SETUP_WAIT_S = 120.0  # how long an instance waits for another one's setup() (migrations) to finish
_SETUP_POLL_S = 0.05


def _setup_lock_wait(acquired: bool, started: float, url: str) -> float:
    """Poll for the setup lock (pure): 0 when taken, else the pause before the next try; PostgresConnectError past the limit.

    A blocking pg_advisory_lock would deadlock: the holder's setup() runs CREATE INDEX CONCURRENTLY, which waits
    for every open transaction, the waiting lock call included. Short try-lock statements end at once.
    """
    if acquired:
        return 0.0
    if time.monotonic() - started > SETUP_WAIT_S:
        raise PostgresConnectError(f"the Postgres checkpoint database {describe_url(url)} is being set up by another "
                                   f"process and was not ready after {SETUP_WAIT_S:g} s; try again, or look for a stuck migration.")
    return _SETUP_POLL_S


def _setup(url: str) -> None:
    """Connect once (the clear error comes from here, not a pool timeout), then setup() outside a transaction."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, **CONNECTION_KWARGS) as conn:
            started = time.monotonic()
            while pause := _setup_lock_wait(conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK_KEY,)).fetchone()["ok"],
                                            started, url):
                time.sleep(pause)
            try:
                PostgresSaver(conn).setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
    except psycopg.Error as exc:
        raise _connect_error(url, exc) from None


async def _asetup(url: str) -> None:
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S,
                                                         **CONNECTION_KWARGS) as conn:
            started = time.monotonic()
            while pause := _setup_lock_wait(
                    (await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK_KEY,))).fetchone())["ok"],
                    started, url):
                await asyncio.sleep(pause)
            try:
                await AsyncPostgresSaver(conn).setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
    except psycopg.Error as exc:
        raise _connect_error(url, exc) from None


def unavailable_error(saver: Any, error: BaseException) -> DatabaseUnavailableError | None:
    """What a run that lost its Postgres connection should raise instead of psycopg's own error (None: not that)."""
    if not isinstance(error, (psycopg.OperationalError, PoolTimeout)) or not isinstance(saver, (PostgresSaver, AsyncPostgresSaver)):
        return None
    pool = saver.conn
    where = getattr(pool, "name", None) or "(this saver's)"
    reason = " ".join(redact(str(error)).split()) or type(error).__name__
    return DatabaseUnavailableError(
        f"the Postgres checkpoint database {where} went away during this run ({reason}). This turn was not saved "
        "past its last checkpoint; every earlier turn is kept. Run the turn again once the database is back "
        "(a restarted server is picked up by itself).")


# ---------------------------------------------------------------- run locks, across every process on the database

_LOCKS: dict[str, AdvisoryThreadLocks] = {}
_LOCKS_MUTEX = threading.Lock()


def _lock_session(url: str) -> Callable[[str], psycopg.Connection]:
    def connect(name: str) -> psycopg.Connection:
        try:
            return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, application_name=name,
                                   autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            raise _connect_error(url, exc) from None
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


# Before the interpreter joins non-daemon threads (as checkpoints.py does for aiosqlite).
at_interpreter_exit(_close_pools_at_exit)


def check_database(url: str) -> None:
    """Connect once and set the tables up: PostgresConnectError (host named, no password) if that cannot be done."""
    _parts(url)
    _setup(url)


def postgres_saver(url: str, *, max_size: int = POOL_MAX_SIZE) -> PostgresSaver:
    """A Postgres-backed saver, set up and ready to pass to compile(); ``url`` is ``postgresql://user:pw@host:port/db``."""
    _parts(url)
    _setup(url)
    pool = ConnectionPool(url, min_size=1, max_size=max_size, kwargs=dict(CONNECTION_KWARGS), open=False,
                          check=ConnectionPool.check_connection, name=describe_url(url), timeout=POOL_TIMEOUT_S,
                          reconnect_timeout=RECONNECT_TIMEOUT_S)
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except (PoolTimeout, psycopg.Error) as exc:
        with contextlib.suppress(Exception):
            pool.close(timeout=1)
        raise _connect_error(url, exc) from None
    _OPEN_POOLS.add(pool)
    saver = PostgresSaver(pool)
    _share_locks(saver, url)
    return saver


async def async_postgres_saver(url: str, *, max_size: int = POOL_MAX_SIZE) -> AsyncPostgresSaver:
    """The async twin of postgres_saver() for ainvoke/astream."""
    _parts(url)
    await _asetup(url)
    pool = AsyncConnectionPool(url, min_size=1, max_size=max_size, kwargs=dict(CONNECTION_KWARGS), open=False,
                               check=AsyncConnectionPool.check_connection, name=describe_url(url), timeout=POOL_TIMEOUT_S,
                          reconnect_timeout=RECONNECT_TIMEOUT_S)
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except (PoolTimeout, psycopg.Error) as exc:
        with contextlib.suppress(Exception):
            await pool.close(timeout=1)
        raise _connect_error(url, exc) from None
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


def list_thread_ids(saver: PostgresSaver) -> list[str]:
    """Distinct thread ids in one query, sorted in Python (SQLite's order whatever the collation); via the
    saver's public ``conn`` and ``lock``, not its private ``_cursor``."""
    conn = saver.conn
    with saver.lock, (conn.connection() if isinstance(conn, ConnectionPool) else contextlib.nullcontext(conn)) as c, \
            c.cursor(row_factory=tuple_row) as cur:
        cur.execute(THREADS_SQL)
        return sorted(str(row[0]) for row in cur.fetchall())


async def alist_thread_ids(saver: AsyncPostgresSaver) -> list[str]:
    """Async list_thread_ids()."""
    conn = saver.conn
    async with saver.lock, (conn.connection() if isinstance(conn, AsyncConnectionPool) else contextlib.nullcontext(conn)) as c, \
            c.cursor(row_factory=tuple_row) as cur:
        await cur.execute(THREADS_SQL)
        return sorted(str(row[0]) for row in await cur.fetchall())
