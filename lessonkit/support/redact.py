"""One redactor for everything lessonkit writes: recordings, saved notebooks, error text, checkpoints.

Keys travel upstream in request headers and nowhere else. What comes back can quote them: OpenAI's
401 names the key's prefix and last 4 (``sk-proj-****abcd``), a 429 names the organization, and a
debugging proxy may echo the whole ``Authorization: Bearer ...`` header in a 400. Every such text
passes through here before lessonkit records it, hands it to a notebook, or lets LangGraph save it.

What goes, and what it becomes (so a reader still knows what was there):

- the exact value of every secret-looking environment variable (``OPENAI_API_KEY``,
  ``TAVILY_API_KEY``, ``OPENAI_ORG_ID``, ``OPENAI_ORGANIZATION``, ``OPENAI_PROJECT_ID``, and any name
  ending in ``_KEY``, ``_TOKEN``, ``_SECRET``, ``_PASSWORD``) of 8 characters or more, and its last 4
  characters where they follow a masked prefix (``...****abcd``);
- ``Bearer <token>`` (a token of 16+ characters with a digit), scheme and token both: ``[redacted token]``;
- OpenAI key shapes ``sk-...`` (``sk-proj-``, ``sk-svcacct-``, ``sk-admin-``): any that is masked
  (holds a ``*``) or 16+ characters long, the masked tail included: ``[redacted key]``;
- Tavily keys ``tvly-...`` and legacy session keys ``sess-`` + 20+ alphanumerics: ``[redacted key]``;
- organization ids ``org-`` + 20 or more letters and digits with at least one capital or digit
  (real ids are 24 mixed-case alphanumerics), so ``org-chart`` or ``org-Finance2024`` stay: ``[redacted org id]``;
- project ids ``proj_`` + 16+ alphanumerics: ``[redacted project id]`` (not a credential, but they
  identify the account just as an org id does);
- the password in a URL's user part (``postgresql://user:PASSWORD@host/db``), whatever the scheme:
  ``[redacted password]``; the whole value of a variable named like ``..._DATABASE_URL`` or ``DATABASE_URL``
  and of ``PGPASSWORD`` goes as a secret too.

Shorter environment values are left alone: redacting every occurrence of a 3-letter value would
mangle ordinary text, and a real key is never that short.

Secrets that live nowhere in the environment (``lessonkit serve``'s bearer tokens) are passed as
``extra=``, or set for a block of code with ``with extra_secrets(tokens):``, which every ``redact`` and
``redact_data`` call inside the block (and in tasks started from it) honours: each value of 8 or more
characters becomes ``[redacted token]``, like an environment ``..._TOKEN``.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

KEY = "[redacted key]"
TOKEN = "[redacted token]"
ORG = "[redacted org id]"
PROJECT = "[redacted project id]"
SECRET = "[redacted secret]"
PASSWORD = "[redacted password]"

SECRET_NAMES = ("OPENAI_API_KEY", "TAVILY_API_KEY", "OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID",
                "PGPASSWORD", "DATABASE_URL")
SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_DATABASE_URL")
MIN_SECRET_LENGTH = 8

_NOT_AFTER = r"(?<![A-Za-z0-9])"  # a shape starts a token: "task-force" holds no "sk-" key
SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # First of the shapes, and after the environment's values: "Bearer <token>" goes whole, even when
    # its token was already replaced by "[redacted key]", so no "Bearer" is left behind.
    # A token is 16+ characters with a digit in it: "the bearer of bad news", "Bearer authentication"
    # and a lesson's "Bearer TOKEN" placeholder stay prose.
    (re.compile(r"(?i)\bbearer\s+(?:\[redacted [a-z ]+\]|(?=[A-Za-z._~+/=*-]*[0-9])[A-Za-z0-9._~+/=*-]{16,})"), TOKEN),
    (re.compile(_NOT_AFTER + r"sk-(?:[A-Za-z0-9_-]*\*[A-Za-z0-9_*-]*|[A-Za-z0-9_-]{16,})"), KEY),
    (re.compile(_NOT_AFTER + r"tvly-[A-Za-z0-9_*-]{4,}"), KEY),
    (re.compile(_NOT_AFTER + r"sess-[A-Za-z0-9]{20,}"), KEY),
    (re.compile(_NOT_AFTER + r"org-(?=[a-z]*[A-Z0-9])[A-Za-z0-9]{20,}"), ORG),
    (re.compile(_NOT_AFTER + r"proj_[A-Za-z0-9]{16,}"), PROJECT),
    # user:password@ in a URL (a Postgres URL in a traceback or a log line): the user and host stay.
    (re.compile(r"(?<=://)(?P<user>[^\s:/@\[\]]*):(?!\[redacted)[^\s/@]+(?=@)"), r"\g<user>:" + PASSWORD),
)


@dataclass(frozen=True)
class _EnvRules:
    """The environment's secrets as two patterns: exact values, and last-4 tails after a mask."""

    labels: Mapping[str, str]  # secret value (or its last 4) -> replacement
    values: re.Pattern[str] | None
    tails: re.Pattern[str] | None

    def apply(self, text: str) -> str:
        for pattern in (self.values, self.tails):
            if pattern is not None:
                text = pattern.sub(lambda m: self.labels[m.group("secret")], text)
        return text


def _label(name: str) -> str:
    """What to write in place of a variable's value, judged by its name."""
    upper = "_" + name.upper()
    if "_ORG" in upper:
        return ORG
    if "PROJECT" in upper:
        return PROJECT
    if upper.endswith("_TOKEN"):
        return TOKEN
    return KEY if upper.endswith("_KEY") else SECRET


def is_secret_name(name: str) -> bool:
    """A variable whose value must never be written: the known key names, or a secret-sounding suffix."""
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES)


def secret_values(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(value, replacement) for every secret variable long enough to be a real secret, longest first."""
    found = {value: _label(name) for name, value in env.items() if is_secret_name(name) and len(value or "") >= MIN_SECRET_LENGTH}
    return tuple(sorted(found.items(), key=lambda item: -len(item[0])))


@lru_cache(maxsize=16)
def _env_rules(secrets: tuple[tuple[str, str], ...]) -> _EnvRules:
    labels = {value: label for value, label in secrets}
    tails = {value[-4:]: label for value, label in reversed(secrets)}  # the longest value's label wins
    exact = "|".join(re.escape(value) for value, _ in secrets)
    masked = "|".join(re.escape(tail) for tail in tails)
    return _EnvRules(
        labels={**tails, **labels},
        values=re.compile(f"(?P<secret>{exact})") if exact else None,
        # the last 4 count as a fragment only right after a mask: "sk-****abcd", "...***abcd".
        tails=re.compile(rf"[A-Za-z0-9_-]*\*{{3,}}(?P<secret>{masked})(?![A-Za-z0-9])") if masked else None,
    )


_EXTRA: ContextVar[tuple[str, ...]] = ContextVar("lessonkit_redact_extra", default=())


@contextlib.contextmanager
def extra_secrets(values: Iterable[str]) -> Iterator[None]:
    """Within the block (and tasks it starts), ``redact`` also removes ``values`` (see the module docstring)."""
    token = _EXTRA.set(tuple(dict.fromkeys((*_EXTRA.get(), *values))))
    try:
        yield
    finally:
        _EXTRA.reset(token)


def _rules(env: Mapping[str, str] | None, extra: Iterable[str] = ()) -> _EnvRules:
    found = dict(secret_values(os.environ if env is None else env))
    for value in (*_EXTRA.get(), *extra):
        if len(value or "") >= MIN_SECRET_LENGTH:
            found.setdefault(value, TOKEN)
    return _env_rules(tuple(sorted(found.items(), key=lambda item: -len(item[0]))))


def _redact(text: str, rules: _EnvRules) -> str:
    text = rules.apply(text)
    for pattern, replacement in SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact(text: str, env: Mapping[str, str] | None = None, *, extra: Iterable[str] = ()) -> str:
    """``text`` without keys, tokens or org ids; ``env`` defaults to ``os.environ``, ``extra`` adds secret values."""
    return _redact(text, _rules(env, extra))


def _redact_data(obj: Any, rules: _EnvRules) -> Any:
    if isinstance(obj, str):
        return _redact(obj, rules)
    if isinstance(obj, Mapping):
        return {key: _redact_data(value, rules) for key, value in obj.items()}
    if isinstance(obj, list) or type(obj) is tuple:
        return type(obj)(_redact_data(value, rules) for value in obj)
    return obj


def redact_data(obj: Any, env: Mapping[str, str] | None = None, *, extra: Iterable[str] = ()) -> Any:
    """A redacted copy of JSON-like data (dicts, lists, tuples, strings); keys and other values untouched.

    Mappings come back as plain dicts (a notebook node: pass it to ``nbformat.from_dict``).
    """
    return _redact_data(obj, _rules(env, extra))


def redact_exception(err: BaseException, env: Mapping[str, str] | None = None) -> BaseException:
    """Redact an exception's message in place, through its cause and context chain, and return it.

    Its type and traceback stay, so ``redact_exception(err); raise`` shows the same error minus the
    secrets. What is redacted: ``args`` (``str()`` and ``repr()``, which is what LangGraph checkpoints
    for a failed node), ``__notes__``, and an openai ``APIError``'s ``message`` and ``body``.
    """
    rules = _rules(env)
    pending: list[BaseException | None] = [err]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.args = _redact_data(current.args, rules)
        for name in ("message", "body", "__notes__"):
            if name in vars(current):
                setattr(current, name, _redact_data(getattr(current, name), rules))
        pending += [current.__cause__, current.__context__]
    return err


@contextlib.contextmanager
def redacted_errors(env: Mapping[str, str] | None = None) -> Iterator[None]:
    """Any exception leaving the block is redacted in place (``redact_exception``) and re-raised as is."""
    try:
        yield
    except Exception as error:
        redact_exception(error, env)
        raise
