"""Which recorded answers a lesson still uses: a small ledger per recording, written by full replay runs.

Nothing can tell statically which requests a notebook makes, so the runs that execute a whole lesson
in replay count them: ``lessonkit run`` and pytest's nbval runs give the lesson's kernel
``LESSONKIT_USAGE_DIR``; the kernel then remembers every replay cassette it opens (a student's kernel,
without the variable, remembers nothing and writes nothing). Only when every cell has run without an
error does the runner execute ``finish_code`` in that kernel, which writes one ledger per recording:
the recording's path and SHA-256, the lesson's path and the SHA-256 of its code cells, which
interactions were asked for, when, and by which runner. A run that fails or is stopped never gets
that far, so no ledger ever calls an answer unused because a cell did not run.

Ledgers live in a per-user cache folder (``$XDG_CACHE_HOME/lessonkit/usage``, default
``~/.cache/lessonkit/usage``), never in the project, and hold no secret. ``doctor`` reads them: a
ledger whose recording or lesson code has changed since says nothing (usage unknown).

An answer counts as used when its request was asked at least once, as ``record --missing-only``
counts when it prunes (a request asked once keeps all its recorded repeats).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import LessonkitError
from ..support.files import atomic_write_text, describe_os_error
from .lesson_names import notebook_sources
from .recording.cassette import Cassette, project_relative
from .recording.session import PendingCassette
from .settings import VARIABLES, raw

VARIABLE = VARIABLES["usage_dir"]
FORMAT = "lessonkit-usage/1"
State = Literal["never", "recording-changed", "code-changed", "all-used", "unused"]


# ---------------------------------------------------------------- deciding (pure)

def usage_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ledgers go: LESSONKIT_USAGE_DIR, else ``$XDG_CACHE_HOME/lessonkit/usage`` (an absolute one), else ~/.cache."""
    env = os.environ if env is None else env
    if chosen := raw("usage_dir", env):
        return Path(chosen)
    cache = env.get("XDG_CACHE_HOME", "").strip()
    if cache and Path(cache).is_absolute():
        return Path(cache) / "lessonkit" / "usage"
    try:
        return Path.home() / ".cache" / "lessonkit" / "usage"
    except RuntimeError:  # no HOME and no passwd entry (a container's arbitrary uid): a per-user temp folder
        return Path(tempfile.gettempdir()) / f"lessonkit-usage-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_digest(sources: Sequence[str]) -> str:
    """The SHA-256 of a lesson's code cells (what decides its requests; outputs and prose do not)."""
    return sha256(json.dumps(list(sources), ensure_ascii=False).encode("utf-8"))


def ledger_name(recording: Path, notebook: Path) -> str:
    """One ledger per recording and lesson (a copied lesson replaying the same recording keeps its own)."""
    key = sha256(f"{recording}\0{notebook}".encode())
    return f"{recording.stem}-{key[:16]}.json"


def make_ledger(recording: Path, recording_sha: str, notebook: Path, code_sha: str, total: int, used: Sequence[int],
                runner: str, finished: _dt.datetime) -> dict[str, Any]:
    return {"format": FORMAT, "recording": str(recording), "recording_sha256": recording_sha, "notebook": str(notebook),
            "notebook_code_sha256": code_sha, "interactions": total, "used": sorted(set(used)), "runner": runner,
            "finished": finished.isoformat(timespec="seconds")}


def parse_ledger(data: object) -> dict[str, Any] | None:
    """A ledger as written by ``make_ledger``; None for anything else (an unknown file says nothing)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    strings = ("recording", "recording_sha256", "notebook", "notebook_code_sha256", "runner", "finished")
    if not all(isinstance(data.get(k), str) for k in strings) or not isinstance(data.get("interactions"), int):
        return None
    used = data.get("used")
    if not isinstance(used, list) or not all(isinstance(n, int) and 0 <= n < data["interactions"] for n in used):
        return None
    try:
        _dt.datetime.fromisoformat(data["finished"])
    except ValueError:
        return None
    return data


@dataclass(frozen=True)
class Verdict:
    state: State
    total: int = 0
    unused: tuple[int, ...] = ()
    when: str = ""  # the last full run, "YYYY-MM-DD HH:MM"


def judge(ledger: Mapping[str, Any] | None, recording_sha: str, total: int, code_sha: str) -> Verdict:
    """What a ledger says about a recording and lesson as they are now."""
    if ledger is None:
        return Verdict("never", total)
    when = _dt.datetime.fromisoformat(ledger["finished"]).strftime("%Y-%m-%d %H:%M")
    if ledger["recording_sha256"] != recording_sha or ledger["interactions"] != total:
        return Verdict("recording-changed", total, when=when)
    if ledger["notebook_code_sha256"] != code_sha:
        return Verdict("code-changed", total, when=when)
    used = set(ledger["used"])
    unused = tuple(n for n in range(total) if n not in used)
    return Verdict("unused" if unused else "all-used", total, unused, when)


def describe_interaction(item: Mapping[str, Any]) -> str:
    """An interaction in a few words: a search's query, or the last user message a chat request answers."""
    request = item.get("request", {})
    if item.get("kind") == "search":
        return f"search {str(request.get('query', ''))[:60]!r}"
    users = [m.get("content") for m in request.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    last = next((c for c in reversed(users) if isinstance(c, str)), None)
    return f"chat after {last[:60]!r}" if last is not None else "chat"


def describe(verdict: Verdict, interactions: Sequence[Mapping[str, Any]], notebook: str, prune: str) -> str:
    """What ``doctor`` (and ``lessonkit run``, after a run) says about a recording's answers.

    ``notebook``: the lesson as the commands should name it; ``prune``: the command that prunes.
    """
    check = f"run `python -m lessonkit run {notebook}` to check"
    if verdict.state == "never":
        return f"usage unknown (no full replay run of {Path(notebook).name} yet): {check}"
    if verdict.state == "recording-changed":
        return f"usage unknown (the recording changed since the last full run on {verdict.when}): {check}"
    if verdict.state == "code-changed":
        return f"usage unknown (the lesson's code changed since the last full run on {verdict.when}): {check}"
    if verdict.state == "all-used":
        return f"all {verdict.total} answers used (last full run on {verdict.when})"
    n = len(verdict.unused)
    shown = "; ".join(f"interactions[{i}]: {describe_interaction(interactions[i])}" for i in verdict.unused[:3])
    more = f"; and {n - 3} more" if n > 3 else ""
    return (f"{n} unused answer{'s' if n != 1 else ''} of {verdict.total} ({shown}{more}) as of the last full run on "
            f"{verdict.when}: run `{prune}` to prune {'it' if n == 1 else 'them'}")


def lesson_of(recording: Path) -> Path | None:
    """The lesson a recording belongs to: ``recordings/NAME.json`` → ``NAME.ipynb`` beside that folder."""
    return recording.parent.parent / f"{recording.stem}.ipynb" if recording.parent.name == "recordings" else None


def prune_command(notebook: Path) -> str:
    """``record --missing-only`` replays every recorded request and drops the answers no cell asked for; with the
    lesson's script (``scripts/NAME.json``) it needs no key, since a lesson that replays fully asks nothing new."""
    script = notebook.parent / "scripts" / f"{notebook.stem}.json"
    offline = f" --script {project_relative(script)}" if script.is_file() else ""
    return f"python -m lessonkit record {project_relative(notebook)} --missing-only{offline}"


# ---------------------------------------------------------------- the files (thin)

def read_ledger(folder: Path, recording: Path, notebook: Path) -> dict[str, Any] | None:
    try:
        return parse_ledger(json.loads((folder / ledger_name(recording, notebook)).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def write_ledger(folder: Path, ledger: Mapping[str, Any]) -> None:
    """Write one ledger atomically. Other ledgers are never deleted: one whose lesson is missing here may
    belong to another checkout, branch or user sharing the folder (a ledger is a few hundred bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = ledger_name(Path(ledger["recording"]), Path(ledger["notebook"]))
    atomic_write_text(folder / name, json.dumps(ledger, indent=1) + "\n")


def recording_verdict(recording: Path, env: Mapping[str, str] | None = None) -> str | None:
    """``doctor``'s usage line for one recording; None when it belongs to no lesson notebook."""
    from .execute import read_notebook  # nbformat, only when asked

    notebook = lesson_of(recording.resolve())
    if notebook is None or not notebook.exists():
        return None
    shown = project_relative(notebook)
    try:
        sources = notebook_sources(read_notebook(notebook))
        interactions = Cassette(recording).interactions
        data = recording.read_bytes()
    except (LessonkitError, OSError) as err:
        return f"usage unknown ({redact_said(err)})"
    verdict = judge(read_ledger(usage_dir(env), recording.resolve(), notebook), sha256(data), len(interactions), code_digest(sources))
    return describe(verdict, interactions, shown, prune_command(notebook))


def redact_said(err: Exception) -> str:
    from ..support.redact import redact

    return redact(describe_os_error(err) if isinstance(err, OSError) else str(err))


# ---------------------------------------------------------------- in the lesson's kernel

_TRACKED: list[tuple[Cassette, str]] = []  # replay cassettes this kernel opened, with their file's SHA-256 then


def track(cassette: Cassette) -> None:
    """Remember a replay cassette (only in a kernel a full run started: LESSONKIT_USAGE_DIR is set)."""
    if not raw("usage_dir") or isinstance(cassette, PendingCassette):
        return
    try:
        _TRACKED.append((cassette, sha256(cassette.path.read_bytes())))
    except OSError:
        return  # no recording file: nothing to count (doctor lists lessons without one)


def finish_code(notebook: Path, sources: Sequence[str], runner: str) -> str:
    """The code a runner executes in the lesson's kernel after every cell ran without an error."""
    args = f"{str(notebook.resolve())!r}, {code_digest(sources)!r}, {runner!r}"
    return f"import lessonkit.harness.usage as _lk_usage\n_lk_usage.finish_run({args})"


def finish_run(notebook: str, code_sha: str, runner: str) -> None:
    """Write a ledger for every recording this kernel replayed, and print one line each (never raises)."""
    lesson = Path(notebook)
    folder = usage_dir()
    by_path: dict[Path, list[tuple[Cassette, str]]] = {}
    for cassette, digest in _TRACKED:
        by_path.setdefault(cassette.path.resolve(), []).append((cassette, digest))
    for path, entries in by_path.items():
        shown = project_relative(path)
        try:
            if len({digest for _, digest in entries}) != 1 or len({len(c.interactions) for c, _ in entries}) != 1:
                print(f"{shown}: usage not recorded (the recording changed during the run)")
                continue
            cassette, digest = entries[0]
            used = sorted({n for c, _ in entries for n in c.used_indices()})
            ledger = make_ledger(path, digest, lesson, code_sha, len(cassette.interactions), used, runner, _dt.datetime.now())
            try:
                write_ledger(folder, ledger)
            except (OSError, LessonkitError) as err:
                print(f"{shown}: could not write the usage ledger in {folder}: {redact_said(err)}")
            owner = lesson_of(path)
            owner = owner if owner is not None and owner.exists() else lesson  # the advice names the recording's lesson
            verdict = judge(ledger, digest, len(cassette.interactions), code_sha)
            print(f"{shown}: {describe(verdict, cassette.interactions, project_relative(owner), prune_command(owner))}")
        except Exception as err:  # noqa: BLE001 - counting answers must never fail a lesson that ran
            print(f"{shown}: usage not recorded ({type(err).__name__}: {redact_said(err)})")
