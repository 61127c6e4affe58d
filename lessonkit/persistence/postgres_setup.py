"""Connecting to a Postgres checkpoint database once, and setting its tables up under an advisory lock.

One body: ``asetup`` runs ``setup`` in a worker thread (the same statements, lock wait and errors), so the
event loop never waits on the server and two instances starting together never race on the migrations.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row

from lessonkit.persistence.postgres_urls import PostgresConnectError, connect_error, describe_url, url_parts

CONNECT_TIMEOUT_S = 10
CONNECTION_KWARGS: dict[str, Any] = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": None}
_SETUP_LOCK_KEY = 0x6C6B5F7067  # pg_advisory_lock key held while setup() runs ("lk_pg")

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


def setup(url: str) -> None:
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
        raise connect_error(url, exc) from None


async def asetup(url: str) -> None:
    """setup() for async code: the same body in a worker thread, so the event loop keeps running meanwhile."""
    await asyncio.to_thread(setup, url)


def check_database(url: str) -> None:
    """Connect once and set the tables up: PostgresConnectError (host named, no password) if that cannot be done."""
    url_parts(url)
    setup(url)
