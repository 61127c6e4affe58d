"""Who is calling, and which stored thread a public thread id means for them: the one place for both.

Every route gets its caller from the ``current_user`` dependency and every thread id from
``thread_key``, so authentication (a bearer token → a user, ``auth.py``) lives in this module only, and
no route can forget to scope a thread to its owner.

With a tokens file (``ServeSettings.tokens``) a caller names itself with ``Authorization: Bearer
<token>``; a WebSocket may instead pass ``?token=<token>`` (browsers cannot set headers on a socket).
A missing or unknown token is a 401 with ``WWW-Authenticate: Bearer``, for a WebSocket as the HTTP
answer to its handshake. Without a tokens file every caller is the one local user ``local``, and only
callers on this machine are answered (403 otherwise): ``lessonkit serve`` also refuses to listen
anywhere else, but an app served by hand might.

Stored thread ids are ``"<user>/<public id>"``. Neither part may contain ``/`` (users are
``[A-Za-z0-9._-]``, public ids the URL-safe ``[A-Za-z0-9._~-]``), so the mapping is one-to-one and
reversible, a user's threads are exactly the stored ids starting with ``"<user>/"``, and two users
using the same public id get two different conversations. The SQLite file shows the owner plainly.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from fastapi import Depends, Path
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from lessonkit.errors import ThreadIdError
from lessonkit.persistence.runs import validate_thread_id

from .auth import bearer_token, is_loopback

LOCAL_USER = "local"
SEPARATOR = "/"
USER_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
THREAD_CHARS = "letters, digits and . _ ~ -"
_THREAD_PATTERN = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(frozen=True)
class ThreadKey:
    """A thread as its owner names it (``thread_id``) and as the checkpointer stores it (``stored``)."""

    user: str
    thread_id: str

    @property
    def stored(self) -> str:
        return stored_thread_id(self.user, self.thread_id)

    def config(self) -> dict[str, dict[str, str]]:
        """The LangGraph config for this thread: the only place a route gets a ``thread_id`` to run with."""
        return {"configurable": {"thread_id": self.stored}}


UNAUTHORIZED = ("this server needs a bearer token: send the header 'Authorization: Bearer <token>' with the token "
                "your teacher or administrator gave you (a WebSocket may pass ?token=<token> instead).")
WRONG_TOKEN = "that bearer token is not valid on this server: check for a typo or an old token, or ask for a new one."
REMOTE_REFUSED = ("this server has no tokens file, so it answers this machine only; start it with --tokens FILE "
                  "to serve other machines.")


def current_user(connection: HTTPConnection) -> str:
    """The caller: the user holding the request's bearer token, or ``local`` on a server without tokens.

    Raises a 401 (``WWW-Authenticate: Bearer``) for a missing or unknown token, a 403 for a caller
    from another machine when the server has no tokens. The token never appears in the answer.
    """
    tokens = connection.app.state.lessonkit.settings.tokens
    if tokens is None:
        client = connection.client
        if client is not None and _is_remote(client.host):
            raise HTTPException(403, REMOTE_REFUSED)
        return LOCAL_USER
    token = bearer_token(connection.headers.get("authorization"))
    if token is None and connection.scope["type"] == "websocket":
        token = connection.query_params.get("token") or None
    user = tokens.user_for(token)
    if user is None:
        challenge = 'Bearer realm="lessonkit"' + ('' if token is None else ', error="invalid_token"')
        raise HTTPException(401, UNAUTHORIZED if token is None else WRONG_TOKEN, headers={"WWW-Authenticate": challenge})
    return user


def _is_remote(host: str) -> bool:
    """A peer address that is an IP and not loopback (a test transport's made-up name is not remote)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return not is_loopback(host)


def check_public_thread_id(thread_id: str, max_length: int = 128) -> str:
    """``thread_id`` if a client may use it in a URL, else ThreadIdError saying what is allowed (422)."""
    if not thread_id:
        problem = "thread_id is empty"
    elif len(thread_id) > max_length:
        problem = f"thread_id is {len(thread_id)} characters long (at most {max_length})"
    elif not _THREAD_PATTERN.fullmatch(thread_id):
        bad = next(ch for ch in thread_id if not _THREAD_PATTERN.fullmatch(ch))
        problem = f"thread_id {thread_id[:40]!r} contains {bad!r}"
    else:
        return thread_id
    raise ThreadIdError(f"{problem}. A thread_id is 1 to {max_length} characters: {THREAD_CHARS}, e.g. 'alice-1'.")


def stored_thread_id(user: str, thread_id: str) -> str:
    """The checkpointer's thread id for ``user``'s ``thread_id`` (see the module docstring)."""
    if not USER_PATTERN.fullmatch(user):
        raise ValueError(f"user name {user!r} must match {USER_PATTERN.pattern}")
    return validate_thread_id(f"{user}{SEPARATOR}{check_public_thread_id(thread_id, 200)}")


def public_thread_id(user: str, stored: str) -> str | None:
    """``stored`` as ``user`` names it, or None when it is not theirs (listing filters with this)."""
    prefix = f"{user}{SEPARATOR}"
    if not stored.startswith(prefix):
        return None
    rest = stored[len(prefix):]
    return rest if rest and _THREAD_PATTERN.fullmatch(rest) else None


def thread_key(connection: HTTPConnection, thread_id: str = Path(description="the conversation's id: " + THREAD_CHARS),
               user: str = Depends(current_user)) -> ThreadKey:
    """The FastAPI dependency every thread route uses: validate the public id, scope it to the caller."""
    settings = connection.app.state.lessonkit.settings
    return ThreadKey(user, check_public_thread_id(thread_id, settings.max_thread_id_length))
