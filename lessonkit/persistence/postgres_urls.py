"""What lessonkit may say about a Postgres URL (never its password), and the errors that name the database."""
from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from lessonkit.errors import CheckpointPathError, DatabaseUnavailableError
from lessonkit.support.redact import redact


class PostgresConnectError(CheckpointPathError):
    """Cannot connect to (or set up) the Postgres database; the message names the host, never the password."""


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def url_parts(url: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise PostgresConnectError(f"not a Postgres connection URL ({_scrub(str(exc), url)}); expected "
                                   "postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from None


def describe_url(url: str) -> str:
    """``user@host:port/database``: what a message may say about a URL (no password)."""
    p = url_parts(url)
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


def connect_error(url: str, exc: BaseException, doing: str = "connect to") -> PostgresConnectError:
    reason = " ".join(_scrub(str(exc), url).split()) or type(exc).__name__
    return PostgresConnectError(f"cannot {doing} the Postgres checkpoint database {describe_url(url)}: {reason}. "
                                "Check the host, port, database name, user and password in the URL, and that "
                                "the server is running and accepts connections from here.")


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
