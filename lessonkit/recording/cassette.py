"""The cassette: one notebook's recorded chat and search traffic, looked up by canonical request.

Identical requests recorded more than once are played back in the order they were recorded (two
threads asking the same first question get their own answers); past the last one the last repeats.
"""
from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal, Mapping

from ..errors import RecordingMissError
from .canonical import canonical_request, describe_difference, request_key, similarity
from .storage import FORMAT, load_document, save_document
from .wire import ChatResponse, Chunk

Origin = Literal["live", "authored"]
Kind = Literal["chat", "search"]


def response_to_dict(response: ChatResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"status": response.status, "captured_as": response.captured_as, "duration": response.duration}
    if response.status != 200:
        out.update(error_body=response.error_body, headers=dict(response.headers))
        return out
    out.update(meta=dict(response.meta), usage=response.usage)
    out["chunks"] = [
        {"t": c.t, "delta": dict(c.delta), **({"finish_reason": c.finish_reason} if c.finish_reason else {}),
         **({"logprobs": c.logprobs} if c.logprobs is not None else {})}
        for c in response.chunks
    ]
    return out


def response_from_dict(data: Mapping[str, Any]) -> ChatResponse:
    chunks = tuple(Chunk(t=c["t"], delta=c["delta"], finish_reason=c.get("finish_reason"), logprobs=c.get("logprobs")) for c in data.get("chunks", ()))
    return ChatResponse(
        status=data["status"], chunks=chunks, meta=data.get("meta", {}), usage=data.get("usage"),
        duration=data.get("duration", 0.0), captured_as=data.get("captured_as", "stream"),
        error_body=data.get("error_body"), headers=data.get("headers", {}),
    )


def project_relative(path: Path) -> str:
    """A path as it reads from the project root (stable across machines, for messages and outputs)."""
    path = path.resolve()
    for parent in path.parents:
        if (parent / "pyproject.toml").exists():
            return str(path.relative_to(parent))
    return str(path)


class Cassette:
    """Every interaction of one recording file, and where playback has got to."""

    def __init__(self, path: Path | str, notebook: str | None = None) -> None:
        self.path = Path(path)
        self.document = load_document(self.path)
        if notebook:
            self.document.setdefault("notebook", notebook)
        self._played: Counter[str] = Counter()

    @property
    def interactions(self) -> list[dict[str, Any]]:
        return self.document["interactions"]

    @property
    def notebook(self) -> str:
        return self.document.get("notebook") or self.path.stem + ".ipynb"

    def origins(self, kind: Kind = "chat") -> Counter[str]:
        """How many interactions of a kind were captured live and how many were authored."""
        return Counter(i["origin"] for i in self.interactions if i["kind"] == kind)

    def clear(self) -> None:
        """Forget every interaction (a full re-record); the file changes only at the next save."""
        self.document["interactions"] = []
        self._played.clear()

    # -- lookup -----------------------------------------------------------------------------
    def _matches(self, kind: Kind, canonical: Mapping[str, Any]) -> list[dict[str, Any]]:
        key = request_key(canonical)
        return [i for i in self.interactions if i["kind"] == kind and request_key(i["request"]) == key]

    def has(self, kind: Kind, request: Mapping[str, Any]) -> bool:
        return bool(self._matches(kind, _canonical(kind, request)))

    def play(self, kind: Kind, request: Mapping[str, Any]) -> dict[str, Any]:
        """The next recorded interaction for this request, or a RecordingMissError with a diff."""
        canonical = _canonical(kind, request)
        found = self._matches(kind, canonical)
        if not found:
            raise RecordingMissError(self._miss_message(kind, canonical))
        key = request_key(canonical)
        index = min(self._played[key], len(found) - 1)
        self._played[key] += 1
        return found[index]

    def chat_response(self, body: Mapping[str, Any]) -> ChatResponse:
        return response_from_dict(self.play("chat", body)["response"])

    def _miss_message(self, kind: Kind, canonical: Mapping[str, Any]) -> str:
        recorded = [(n, i) for n, i in enumerate(self.interactions) if i["kind"] == kind]
        where = project_relative(self.path)
        what = "chat request" if kind == "chat" else f"search for {canonical.get('query')!r}"
        lines = [f"No recorded response for this {what}.", f"  recording: {where} ({len(recorded)} {kind} interactions)"]
        if recorded:
            n, nearest = min(recorded, key=lambda pair: similarity(pair[1]["request"], canonical))
            lines += [f"  nearest recorded request: interactions[{n}], which differs in:", describe_difference(nearest["request"], canonical)]
        notebook = project_relative(self.path.parent.parent / self.notebook) if self.path.parent.name == "recordings" else self.notebook
        lines += [
            "  The lesson (or a library) now sends something the recording never saw. To refresh it:",
            f"    python -m lessonkit record {notebook}                  (live, needs OPENAI_API_KEY)",
            f"    python -m lessonkit record {notebook} --script FILE    (offline, authored replies)",
        ]
        return "\n".join(lines)

    # -- recording ----------------------------------------------------------------------------
    def add(self, kind: Kind, request: Mapping[str, Any], response: dict[str, Any], origin: Origin, note: str | None = None) -> None:
        """Append one interaction and save at once, so a crash later loses nothing recorded."""
        item: dict[str, Any] = {"kind": kind, "origin": origin}
        if note:
            item["note"] = note
        item["recorded_at"] = _dt.date.today().isoformat()
        item["request"] = _canonical(kind, request)
        item["response"] = response
        self.interactions.append(item)
        self.save()

    def add_chat(self, body: Mapping[str, Any], response: ChatResponse, origin: Origin, note: str | None = None) -> None:
        self.add("chat", body, response_to_dict(response), origin, note)

    def save(self) -> None:
        document = {"format": FORMAT, "notebook": self.notebook, "made": _made(self.interactions), "interactions": self.interactions}
        self.document = document
        save_document(self.path, document)


def _canonical(kind: Kind, request: Mapping[str, Any]) -> dict[str, Any]:
    return canonical_request(request) if kind == "chat" else dict(sorted(request.items()))


def _made(interactions: list[dict[str, Any]]) -> dict[str, Any]:
    """A header for people opening the file: how much of it is live traffic, how much authored."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in interactions:
        counts[item["kind"]][item["origin"]] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())}
