"""Matching: the canonical form of a chat request, and a readable diff between two of them.

Two requests match when their model, messages, tools and parameters are equal. The stream flags
are not part of the key (one recording serves streamed and plain calls), and headers never are
(retry counts and async markers vary, and the key must never depend on credentials).
"""
from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any, Mapping

IGNORED_FIELDS = frozenset({"stream", "stream_options"})
MAX_DIFF_LINES = 8


def canonical_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request as a recording stores it: everything that decides the answer, nothing else."""
    return {k: v for k, v in sorted(body.items()) if k not in IGNORED_FIELDS}


def request_key(canonical: Mapping[str, Any]) -> str:
    """A short stable digest of a canonical request (or search query)."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def difference_lines(recorded: Any, requested: Any, path: str = "") -> list[str]:
    """Where two requests differ, one line per difference, labelled the way a person reads them."""
    if isinstance(recorded, Mapping) and isinstance(requested, Mapping):
        lines: list[str] = []
        for key in sorted(set(recorded) | set(requested)):
            where = f"{path}.{key}" if path else key
            if key not in requested:
                lines.append(f"{where}: recorded {_short(recorded[key])}, not in this request")
            elif key not in recorded:
                lines.append(f"{where}: this request has {_short(requested[key])}, the recording has none")
            else:
                lines += difference_lines(recorded[key], requested[key], where)
        return lines
    if isinstance(recorded, list) and isinstance(requested, list):
        lines = []
        for i, (a, b) in enumerate(zip(recorded, requested)):
            lines += difference_lines(a, b, f"{path}[{i}]{_label(a, b)}")
        if len(recorded) != len(requested):
            extra = requested[len(recorded):] or recorded[len(requested):]
            who = "this request" if len(requested) > len(recorded) else "the recording"
            lines.append(
                f"{path}: the recording has {len(recorded)}, this request {len(requested)}; {who} adds "
                + ", ".join(_short(x) for x in extra[:3])
            )
        return lines
    if recorded != requested:
        if isinstance(recorded, str) and isinstance(requested, str) and max(len(recorded), len(requested)) > 60:
            recorded, requested = _around_first_difference(recorded, requested)
        return [f"{path}: recorded {_short(recorded)} ≠ requested {_short(requested)}"]
    return []


def _around_first_difference(a: str, b: str, before: int = 20) -> tuple[str, str]:
    """Long texts that differ late: show both from just before the first differing character."""
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, first - before)
    prefix = "…" if start else ""
    return prefix + a[start:], prefix + b[start:]


def _label(recorded: Any, requested: Any) -> str:
    """' (user)' for a message, ' (tool tavily_search)' for a tool: what a list item is."""
    item = requested if isinstance(requested, Mapping) else recorded
    if not isinstance(item, Mapping):
        return ""
    if "role" in item:
        return f" ({item['role']})"
    name = (item.get("function") or {}).get("name")
    return f" (tool {name})" if name else ""


def _short(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "⏎")
    return repr(text if len(text) <= limit else text[: limit - 1] + "…") if isinstance(value, str) else (
        text if len(text) <= limit else text[: limit - 1] + "…"
    )


def similarity(recorded: Mapping[str, Any], requested: Mapping[str, Any]) -> tuple[int, int, int, float]:
    """Rank candidates for 'nearest recorded request' (lower is nearer).

    Same model first, then the same number of messages (an edited question is the same turn, not the
    turn before it, which differs only by "the recording has 3, this request 5"), then fewest
    differences, then the differing values most alike (so 'weather in sf' is nearer to 'weather in LA'
    than 'Hi there' is).
    """
    lines = difference_lines(recorded, requested)
    pairs = [line.split(": recorded ", 1)[-1].split(" ≠ requested ") for line in lines]
    unlike = sum(1.0 - difflib.SequenceMatcher(None, *pair).ratio() for pair in pairs if len(pair) == 2)
    same_length = len(recorded.get("messages") or ()) == len(requested.get("messages") or ())
    return (0 if recorded.get("model") == requested.get("model") else 1, 0 if same_length else 1, len(lines), unlike)


def describe_difference(recorded: Mapping[str, Any], requested: Mapping[str, Any]) -> str:
    """At most MAX_DIFF_LINES lines of difference, and a count of the rest."""
    lines = difference_lines(recorded, requested)
    shown = [f"  - {line}" for line in lines[:MAX_DIFF_LINES]]
    if len(lines) > MAX_DIFF_LINES:
        shown.append(f"  … and {len(lines) - MAX_DIFF_LINES} more differences")
    return "\n".join(shown)
