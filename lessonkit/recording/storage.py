"""Storage: a recording file on disk, read strictly and written atomically.

The format is JSON laid out for people and for diffs: one interaction after another, one streamed
chunk per line. Reading checks every field it needs, so a corrupt or truncated file fails at load
with the file and the position, not later with a KeyError deep in a replay.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import CorruptRecordingError

FORMAT = "lessonkit-recording/1"


def load_document(path: Path) -> dict[str, Any]:
    """Read and check a recording file; a missing file is an empty recording."""
    if not path.exists():
        return {"format": FORMAT, "interactions": []}
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        hint = "" if text.rstrip().endswith("}") else " (the file ends early: truncated?)"
        raise CorruptRecordingError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}{hint}.\n"
            f"Restore it from git (git checkout -- {path.name}) or re-record the lesson."
        ) from None
    _check(path, document)
    return document


def _check(path: Path, document: Any) -> None:
    def fail(where: str, problem: str) -> None:
        raise CorruptRecordingError(f"{path}: {where}: {problem}. Restore it from git or re-record the lesson.")

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        fail("top level", f'expected an object with "format": "{FORMAT}"')
    interactions = document.get("interactions")
    if not isinstance(interactions, list):
        fail("top level", '"interactions" must be a list')
    for i, item in enumerate(interactions):
        where = f"interactions[{i}]"
        if not isinstance(item, dict):
            fail(where, "not an object")
        for name in ("kind", "origin", "request", "response"):
            if name not in item:
                fail(where, f'missing "{name}"')
        if item["kind"] not in ("chat", "search"):
            fail(f"{where}.kind", f"unknown kind {item['kind']!r}")
        if item["origin"] not in ("live", "authored"):
            fail(f"{where}.origin", f"must be 'live' or 'authored', not {item['origin']!r}")
        response = item["response"]
        if item["kind"] == "chat":
            if not isinstance(response, dict) or not isinstance(response.get("status"), int):
                fail(f"{where}.response", 'missing an integer "status"')
            for j, chunk in enumerate(response.get("chunks", [])):
                if not isinstance(chunk, dict) or not isinstance(chunk.get("t"), (int, float)) or not isinstance(chunk.get("delta"), dict):
                    fail(f"{where}.response.chunks[{j}]", 'each chunk needs a number "t" and an object "delta"')
        elif not isinstance(response, dict) or "result" not in response:
            fail(f"{where}.response", 'missing "result"')


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
    """Write via a temporary file and rename, so a crash never leaves half a recording."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps_document(document))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
