"""Storage: a recording file on disk, read strictly and written atomically.

The format is JSON laid out for people and for diffs: one interaction after another, one streamed
chunk per line. Reading checks the type of every field replay reads, so a damaged, truncated or
hand-edited file fails at load with the file and the position (a JSON path, or line and column),
never later with a KeyError or TypeError deep in a replay. The reading and type-checking helpers
here are shared with authoring scripts, which fail the same way.
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NoReturn

from ...errors import CorruptRecordingError, LessonkitError
from ...support.files import atomic_write_text
from ...support.redact import redact_data
from .wire import CHOICE_KEYS, META_FIELDS, TEXT_FIELDS

FORMAT_NAME = "lessonkit-recording"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
UPGRADE = "pip install -U lessonkit, or pip install -r requirements.txt for the project's pinned set"


def empty_document() -> dict[str, Any]:
    return {"format": FORMAT, "interactions": []}


def load_document(path: Path) -> dict[str, Any]:
    """Read and check a recording file; a missing file is an empty recording."""
    if not path.exists():
        return empty_document()
    advice = restore_advice(path)
    document = read_json(path, CorruptRecordingError, "recording", advice)
    _check_document(Shape(path, CorruptRecordingError, advice), document)
    return document


# -- reading any JSON file lessonkit is given ------------------------------------------------------
def read_json(path: Path, error: type[LessonkitError], what: str, advice: str) -> Any:
    """Parse a JSON file; a folder, unreadable or non-UTF-8 bytes, or bad JSON raise ``error`` saying where."""
    if path.is_dir():
        raise error(f"{path} is a folder, not a {what} file. Move it out of the way (a {what} is one JSON file), then try again.")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise error(f"{path}: cannot read the {what}: {err.strerror or err}.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise error(f"{path}: not UTF-8 text: byte 0x{data[err.start]:02x} at byte offset {err.start} (line {line}). {advice}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        hint = "" if text.rstrip().endswith(("}", "]")) else " (the file ends early: truncated?)"
        raise error(f"{path}: not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}{hint}.\n{advice}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be a {what}. {advice}") from None


def restore_advice(path: Path) -> str:
    """How to get a damaged recording back: a git command that works pasted in a shell at this process's cwd."""
    root = _work_tree(path)
    if root is None:
        return "Re-record the lesson (the file is not in a git repository to restore it from)."
    if _work_tree(Path.cwd()) == root:
        command = f"git checkout -- {shlex.quote(_from_cwd(path))}"
    else:  # the shell would be outside the repository: point git at it
        command = f"git -C {shlex.quote(_from_cwd(root))} checkout -- {shlex.quote(os.path.relpath(path.resolve(), root))}"
    return f"Restore the committed version with\n    {command}\nor re-record the lesson."


def _work_tree(path: Path) -> Path | None:
    """The git work tree holding ``path`` (the nearest folder with a .git), if any."""
    path = path.resolve()
    return next((folder for folder in (path, *path.parents) if (folder / ".git").exists()), None)


def _from_cwd(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # on another drive (Windows): only the full path reaches it
        return str(path.resolve())


# -- type checks that name the file and the JSON path -------------------------------------------
Kind = tuple[str, Callable[[Any], bool]]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return (_whole(value) or isinstance(value, float)) and math.isfinite(value)


TEXT: Kind = ("a string", lambda v: isinstance(v, str))
NULL: Kind = ("null", lambda v: v is None)
OBJECT: Kind = ("an object", lambda v: isinstance(v, dict))
LIST: Kind = ("a list", lambda v: isinstance(v, list))
NUMBER: Kind = ("a number", _number)
COUNT: Kind = ("a whole number ≥ 0", lambda v: _whole(v) and v >= 0)
SECONDS: Kind = ("a number of seconds ≥ 0", lambda v: _number(v) and v >= 0)
STATUS: Kind = ("an HTTP status from 100 to 599", lambda v: _whole(v) and 100 <= v <= 599)


def one_of(*values: str) -> Kind:
    return (" or ".join(repr(v) for v in values), lambda v: isinstance(v, str) and v in values)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Shape:
    """Checks on parsed JSON: the first problem raises ``error`` with the file, the JSON path and the advice."""

    def __init__(self, path: Path, error: type[LessonkitError], advice: str) -> None:
        self.path, self.error, self.advice = path, error, advice

    def fail(self, where: str, problem: str) -> NoReturn:
        raise self.error(f"{self.path}: {where or 'top level'}: {problem}. {self.advice}")

    def expect(self, value: Any, where: str, *kinds: Kind) -> Any:
        if not any(test(value) for _, test in kinds):
            self.fail(where, f"must be {' or '.join(name for name, _ in kinds)}, not {_shown(value)}")
        return value

    def need(self, parent: Mapping[str, Any], name: str, where: str, *kinds: Kind, missing: str | None = None) -> Any:
        """A field that must be there, of one of ``kinds``."""
        if name not in parent:
            self.fail(where, missing or f'missing "{name}"')
        return self.expect(parent[name], _join(where, name), *kinds)

    def field(self, parent: Mapping[str, Any], name: str, where: str, *kinds: Kind, default: Any = None) -> Any:
        """A field that may be left out (``default`` then), of one of ``kinds`` when it is there."""
        return self.need(parent, name, where, *kinds) if name in parent else default

    def each(self, items: list[Any], where: str, *kinds: Kind) -> list[tuple[str, Any]]:
        """Every item of a list, checked, with its position."""
        return [(f"{where}[{n}]", self.expect(item, f"{where}[{n}]", *kinds)) for n, item in enumerate(items)]

    def known(self, value: Mapping[str, Any], where: str, names: Iterable[str]) -> None:
        """Refuse keys nothing reads (a typo would otherwise be silently ignored)."""
        names = tuple(names)
        for key in value:
            if key not in names:
                self.fail(where, f"unknown key {key!r} (expected {', '.join(names)})")


def check_usage(shape: Shape, usage: Mapping[str, Any], where: str) -> None:
    """Token counts (``*_tokens``) are whole numbers, their breakdowns (``*_details``) objects of the same."""
    for name, value in usage.items():
        spot = _join(where, name)
        if name.endswith("_tokens"):
            shape.expect(value, spot, COUNT, NULL)
        elif name.endswith("_details") or isinstance(value, dict):
            check_usage(shape, shape.expect(value, spot, OBJECT, NULL) or {}, spot)
        else:
            shape.expect(value, spot, NUMBER, NULL)


# -- the recording's own shape ----------------------------------------------------------------------
def _check_document(shape: Shape, document: Any) -> None:
    shape.expect(document, "", OBJECT)
    _check_format(shape, document)
    shape.field(document, "notebook", "", TEXT)
    shape.field(document, "made", "", OBJECT)
    for where, item in shape.each(shape.need(document, "interactions", "", LIST), "interactions", OBJECT):
        kind = shape.need(item, "kind", where, one_of("chat", "search"))
        shape.need(item, "origin", where, one_of("live", "authored"))
        for name in ("note", "recorded_at"):
            shape.field(item, name, where, TEXT)
        shape.need(item, "request", where, OBJECT)
        response = shape.need(item, "response", where, OBJECT)
        (_check_chat if kind == "chat" else _check_search)(shape, response, _join(where, "response"))


def _check_format(shape: Shape, document: Mapping[str, Any]) -> None:
    """This version's format passes; a newer one says to upgrade; anything else is not a recording."""
    found = shape.need(document, "format", "", TEXT)
    if found == FORMAT:
        return
    newer = re.fullmatch(rf"{re.escape(FORMAT_NAME)}/(\d+)", found)
    if newer and int(newer[1]) > FORMAT_VERSION:
        raise shape.error(
            f"{shape.path}: made by a newer lessonkit (format {found!r}; this one reads {FORMAT!r}). "
            f"Upgrade lessonkit ({UPGRADE}) or re-record the lesson with this one."
        )
    shape.fail("format", f"must be {FORMAT!r}, not {_shown(found)}")


def _check_search(shape: Shape, response: Mapping[str, Any], where: str) -> None:
    shape.need(response, "result", where, OBJECT)
    shape.field(response, "duration", where, SECONDS)


def _check_chat(shape: Shape, response: Mapping[str, Any], where: str) -> None:
    shape.need(response, "status", where, STATUS)
    shape.field(response, "duration", where, SECONDS)
    shape.field(response, "captured_as", where, one_of("stream", "json"))
    shape.field(response, "error_body", where, TEXT, NULL)
    for name, value in shape.field(response, "headers", where, OBJECT, default={}).items():
        shape.expect(value, f"{where}.headers.{name}", TEXT)
    meta = shape.field(response, "meta", where, OBJECT, default={})
    for name in META_FIELDS:
        shape.field(meta, name, _join(where, "meta"), COUNT if name == "created" else TEXT, NULL)
    check_usage(shape, shape.field(response, "usage", where, OBJECT, NULL) or {}, _join(where, "usage"))
    shape.each(shape.field(response, "choice_keys", where, LIST, default=[]), _join(where, "choice_keys"), one_of(*CHOICE_KEYS))
    for spot, chunk in shape.each(shape.field(response, "chunks", where, LIST, default=[]), _join(where, "chunks"), OBJECT):
        _check_chunk(shape, chunk, spot)


def _check_chunk(shape: Shape, chunk: Mapping[str, Any], where: str) -> None:
    missing = 'each chunk needs a number "t" and an object "delta"'
    shape.need(chunk, "t", where, SECONDS, missing=missing)
    shape.field(chunk, "index", where, COUNT)
    _check_delta(shape, shape.need(chunk, "delta", where, OBJECT, missing=missing), _join(where, "delta"))
    shape.field(chunk, "finish_reason", where, TEXT, NULL)
    logprobs = shape.field(chunk, "logprobs", where, OBJECT, NULL) or {}
    for name in ("content", "refusal"):
        shape.field(logprobs, name, _join(where, "logprobs"), LIST, NULL)


def _check_delta(shape: Shape, delta: Mapping[str, Any], where: str) -> None:
    """What the JSON form adds up and the client reads: role, text fields, tool-call pieces."""
    shape.field(delta, "role", where, one_of("assistant"), NULL)
    for name in TEXT_FIELDS:
        shape.field(delta, name, where, TEXT, NULL)
    shape.field(delta, "function_call", where, OBJECT, NULL)
    for spot, call in shape.each(shape.field(delta, "tool_calls", where, LIST, NULL) or [], _join(where, "tool_calls"), OBJECT):
        shape.need(call, "index", spot, COUNT)
        for name in ("id", "type"):
            shape.field(call, name, spot, TEXT, NULL)
        function = shape.need(call, "function", spot, OBJECT)  # every piece of a call has one; the client reads it
        for name in ("name", "arguments"):
            shape.field(function, name, _join(spot, "function"), TEXT, NULL)


# -- writing ------------------------------------------------------------------------------------
def dumps_document(document: dict[str, Any]) -> str:
    """Pretty JSON with each streamed chunk on a line of its own, so a diff shows what changed."""
    return _dump(document, 0) + "\n"


def _dump(value: Any, level: int, inline: bool = False) -> str:
    if inline or not isinstance(value, (dict, list)) or not value:
        return json.dumps(value, ensure_ascii=False)
    pad, inner = " " * level, " " * (level + 1)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _dump(v, level + 1) for v in value) + "\n" + pad + "]"
    items = [
        inner + json.dumps(k) + ": " + (_dump_lines(v, level + 1) if k == "chunks" else _dump(v, level + 1))
        for k, v in value.items()
    ]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def _dump_lines(items: list[Any], level: int) -> str:
    if not items:
        return "[]"
    inner = " " * (level + 1)
    return "[\n" + ",\n".join(inner + json.dumps(v, ensure_ascii=False) for v in items) + "\n" + " " * level + "]"


def save_document(path: Path, document: dict[str, Any]) -> None:
    """Write atomically (a crash never leaves half a recording), with ordinary permissions, redacted:
    no key, token or org id reaches a recording, whatever upstream said."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dumps_document(redact_data(document)))
