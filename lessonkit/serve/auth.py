"""Bearer tokens: the tokens file, the constant-time lookup, and where an unauthenticated server may listen.

The tokens file (``lessonkit serve --tokens FILE``) holds one ``user token`` pair a line; blank lines
and ``#`` comments are skipped. A user may have several tokens (rotate one without cutting anyone
off); a token belongs to exactly one user. Every problem is reported with the file and line number
and never with the token itself, since the error lands in a terminal, a log or a CI transcript.

Pure functions, so the rules are tested without a server:

- ``parse_tokens(text)`` → ``TokenTable`` or ``TokensFileError``;
- ``TokenTable.user_for(token)`` compares the presented token with every known one in constant time
  (``hmac.compare_digest`` over SHA-256 digests: equal lengths, no early exit, no short-circuit over
  the table), so response timing tells an attacker neither a prefix nor which entry came close;
- ``bearer_token(header)`` reads ``Authorization: Bearer <token>``;
- ``bind_refusal(host, has_tokens)`` is the rule that keeps a server without tokens on this machine.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

MIN_TOKEN_LENGTH = 16
TOKEN_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class TokensFileError(ValueError):
    """A tokens file that cannot be used: which line, and what is wrong (never the token)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenTable:
    """Who holds which token. Its ``repr`` names the users only, so a settings dump never shows a token."""

    entries: tuple[tuple[str, str], ...]  # (user, token), file order
    _digests: tuple[tuple[str, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_digests", tuple((user, _digest(token)) for user, token in self.entries))

    def __repr__(self) -> str:
        return f"TokenTable(users={self.users!r}, tokens={len(self.entries)})"

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(user for user, _ in self.entries))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every token: what the redactor removes from events, error bodies and log lines."""
        return tuple(token for _, token in self.entries)

    def user_for(self, token: str | None) -> str | None:
        """The user holding ``token``, or None; the time taken does not depend on which entry (if any) matches."""
        presented = _digest(token or "")
        found: str | None = None
        for user, digest in self._digests:
            if hmac.compare_digest(presented, digest) and token:
                found = user  # no break: every entry is compared, whatever matched
        return found


def parse_tokens(text: str, source: str = "tokens file") -> TokenTable:
    """The table in ``text`` (a tokens file's content), or TokensFileError naming ``source`` and the line."""
    from .identity import USER_PATTERN  # here: identity imports this module

    entries: list[tuple[str, str]] = []
    owners: dict[bytes, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {number}"
        fields = line.split()
        if len(fields) != 2:
            raise TokensFileError(f"{where}: expected 'user token' (two fields separated by spaces), found "
                                  f"{len(fields)} field{'s' if len(fields) != 1 else ''}. A '#' starts a comment only at the start of a line.")
        user, token = fields
        if not USER_PATTERN.fullmatch(user):
            raise TokensFileError(f"{where}: the user name must be 1 to 64 letters, digits, '.', '_' or '-' "
                                  f"(it becomes part of every stored thread id).")
        if len(token) < MIN_TOKEN_LENGTH:
            raise TokensFileError(f"{where}: the token for user {user!r} is {len(token)} characters long; use at least "
                                  f"{MIN_TOKEN_LENGTH} random characters, e.g. from {TOKEN_HINT}")
        digest = _digest(token)
        if digest in owners:
            other = owners[digest]
            raise TokensFileError(f"{where}: this token is already given to user {other!r}"
                                  f"{' on an earlier line' if other == user else ''}; every token must be unique.")
        owners[digest] = user
        entries.append((user, token))
    if not entries:
        raise TokensFileError(f"{source} holds no 'user token' lines; add one per user, e.g. 'alice <token from {TOKEN_HINT}>'.")
    return TokenTable(tuple(entries))


def load_tokens(path: Path) -> TokenTable:
    """Read and parse the tokens file at ``path``; TokensFileError when it is missing, unreadable or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokensFileError(f"no tokens file at {path}: create it with one 'user token' line per user.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TokensFileError(f"cannot read the tokens file {path}: {type(error).__name__}: {getattr(error, 'strerror', None) or 'not UTF-8 text'}.") from None
    return parse_tokens(text, str(path))


def loosely_readable(path: Path) -> bool:
    """Whether others on this machine may read the tokens file (group or world read bits set)."""
    try:
        return bool(Path(path).stat().st_mode & 0o044)
    except OSError:
        return False


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only ever reaches this machine."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, has_tokens: bool) -> str | None:
    """Why the server must not listen on ``host``, or None when it may.

    Without a tokens file every caller is the one local user and may read and delete every thread,
    so such a server listens on loopback only (127.0.0.0/8, ::1, localhost). Any other address,
    ``0.0.0.0`` and ``::`` included, needs ``--tokens``.
    """
    if has_tokens or is_loopback(host):
        return None
    return (f"refusing to listen on {host!r} without --tokens: with no tokens file every caller is the one local user "
            "and can read and delete every thread. Listen on 127.0.0.1 (the default), or pass --tokens FILE "
            "with one 'user token' line per user.")
