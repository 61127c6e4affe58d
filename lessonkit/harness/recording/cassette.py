"""The cassette: one notebook's recorded chat and search traffic, looked up by canonical request.

Identical requests recorded more than once are played back in the order they were recorded (two
threads asking the same first question get their own answers); past the last one the last repeats.
"""
from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal, Mapping

from ...errors import RecordingMissError
from ...support.redact import redact_data
from .canonical import canonical_request, describe_difference, request_key, similarity
from .storage import FORMAT, empty_document, load_document, save_document
from .wire import CHOICE_KEYS, ChatResponse, Chunk

Origin = Literal["live", "authored"]
Kind = Literal["chat", "search"]
Key = tuple[str, str]  # (kind, request_key of the canonical request)


def response_to_dict(response: ChatResponse) -> dict[str, Any]:
    """A response as the recording stores it; fields at their defaults are left out, so files stay as they were."""
    out: dict[str, Any] = {"status": response.status, "captured_as": response.captured_as, "duration": response.duration}
    if response.status != 200:
        out.update(error_body=response.error_body, headers=dict(response.headers))
        return out
    out.update(meta=dict(response.meta), usage=response.usage)
    if response.choice_keys != CHOICE_KEYS:
        out["choice_keys"] = list(response.choice_keys)
    out["chunks"] = [
        {"t": c.t, **({"index": c.index} if c.index else {}), "delta": dict(c.delta),
         **({"finish_reason": c.finish_reason} if c.finish_reason else {}), **({"logprobs": c.logprobs} if c.logprobs is not None else {})}
        for c in response.chunks
    ]
    return out


def response_from_dict(data: Mapping[str, Any]) -> ChatResponse:
    """The stored form back as a response (storage has checked every field this reads)."""
    chunks = tuple(
        Chunk(t=c["t"], delta=c["delta"], finish_reason=c.get("finish_reason"), logprobs=c.get("logprobs"), index=c.get("index", 0))
        for c in data.get("chunks", ())
    )
    return ChatResponse(
        status=data["status"], chunks=chunks, meta=data.get("meta", {}), usage=data.get("usage"),
        duration=data.get("duration", 0.0), captured_as=data.get("captured_as", "stream"),
        error_body=data.get("error_body"), headers=data.get("headers", {}), choice_keys=tuple(data.get("choice_keys", CHOICE_KEYS)),
    )


def project_relative(path: Path) -> str:
    """A path as it reads from the project root (stable across machines, for messages and outputs)."""
    path = path.resolve()
    for parent in path.parents:
        if (parent / "pyproject.toml").exists():
            return str(path.relative_to(parent))
    return str(path)


class Cassette:
    """Every interaction of one recording file, indexed by request, and where playback has got to.

    Lookups go through an index by request, built at the first lookup and extended by ``add``, so one
    costs a single hash of the request however long the recording is. A list replaced or grown by
    other code (``clear``, a merge on commit) is noticed by its identity and length, and re-indexed.
    """

    def __init__(self, path: Path | str, notebook: str | None = None, *, load: bool = True) -> None:
        """``load=False``: start empty without reading the file (a full re-record replaces it, corrupt or not)."""
        self.path = Path(path)
        self.document = load_document(self.path) if load else empty_document()
        if notebook:
            self.document.setdefault("notebook", notebook)
        self._played: Counter[Key] = Counter()
        self._index: dict[Key, list[dict[str, Any]]] = {}
        self._indexed: tuple[list[dict[str, Any]] | None, int] = (None, 0)  # the list the index was built from, and its length
        if load:
            from .. import usage  # (usage imports this module)

            usage.track(self)  # only in a full replay run's kernel (LESSONKIT_USAGE_DIR): which answers the lesson asks for

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
    def _lookup(self) -> dict[Key, list[dict[str, Any]]]:
        """The index by request, in recorded order; rebuilt only when the interactions list was replaced or grew elsewhere."""
        interactions = self.interactions
        if self._indexed[0] is not interactions or self._indexed[1] != len(interactions):
            self._index = {}
            for item in interactions:
                self._index.setdefault(_key(item["kind"], item["request"]), []).append(item)
            self._indexed = (interactions, len(interactions))
        return self._index

    def has(self, kind: Kind, request: Mapping[str, Any]) -> bool:
        return _key(kind, _canonical(kind, request)) in self._lookup()

    def play(self, kind: Kind, request: Mapping[str, Any]) -> dict[str, Any]:
        """The next recorded interaction for this request, or a RecordingMissError with a diff."""
        canonical = _canonical(kind, request)
        key = _key(kind, canonical)
        found = self._lookup().get(key)
        if not found:
            raise RecordingMissError(self._miss_message(kind, canonical))
        index = min(self._played[key], len(found) - 1)
        self._played[key] += 1
        return found[index]

    def used_indices(self) -> list[int]:
        """Which interactions this run asked for: each whose request was played at least once (so, as
        ``record --missing-only`` prunes, a request asked once uses all its recorded repeats)."""
        return [n for n, item in enumerate(self.interactions) if self._played[_key(item["kind"], item["request"])]]

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
            "  The lesson (or a library) now sends something the recording never saw. To record only what is new:",
            f"    python -m lessonkit record {notebook} --missing-only   (live, needs OPENAI_API_KEY; keeps the rest)",
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
        index = self._lookup()
        self.interactions.append(item)
        index.setdefault(_key(kind, item["request"]), []).append(item)
        self._indexed = (self.interactions, len(self.interactions))
        self.save()

    def add_chat(self, body: Mapping[str, Any], response: ChatResponse, origin: Origin, note: str | None = None) -> None:
        self.add("chat", body, response_to_dict(response), origin, note)

    def save(self) -> None:
        document = {"format": FORMAT, "notebook": self.notebook, "made": _made(self.interactions), "interactions": self.interactions}
        self.document = document
        save_document(self.path, document)


def _canonical(kind: Kind, request: Mapping[str, Any]) -> dict[str, Any]:
    """The request as stored and as looked up: redacted the same way on both sides (secret shapes only,
    not this machine's values), so a request that quotes a key-shaped string still finds its answer."""
    canonical = canonical_request(request) if kind == "chat" else dict(sorted(request.items()))
    return redact_data(canonical, env={})


def _key(kind: str, canonical: Mapping[str, Any]) -> Key:
    return (kind, request_key(canonical))


def _made(interactions: list[dict[str, Any]]) -> dict[str, Any]:
    """A header for people opening the file: how much of it is live traffic, how much authored."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in interactions:
        counts[item["kind"]][item["origin"]] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())}


def recording_summary(cassette: Cassette, shown_as: str | None = None) -> str:
    """What a recording holds, by kind and origin: the lesson banner's and `doctor`'s description of it."""
    parts = []
    for kind, one, many in (("chat", "model response", "model responses"), ("search", "search", "searches")):
        origins = cassette.origins(kind)
        if origins:
            total = sum(origins.values())
            detail = ", ".join(f"{n} {origin}" for origin, n in sorted(origins.items()))
            parts.append(f"{total} {one if total == 1 else many} ({detail})")
    return f"{shown_as or project_relative(cassette.path)}: " + ("; ".join(parts) or "empty")
