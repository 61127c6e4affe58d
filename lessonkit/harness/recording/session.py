"""Record mode without risk to the recording it refreshes.

A record-mode run (a lesson in JupyterLab with LESSONKIT_MODE=record, or the first pass of
``lessonkit record``) never writes the recording as it goes. Each answer is appended to a journal
beside it (``recordings/.NAME.json.pending``: one JSON line per answer, so nothing paid for is lost
if the kernel dies, and no answer costs a rewrite of the whole file). The recording is replaced, in
one atomic rename, only when the run ends well: ``lesson.save_recording()``, the end of
``lessonkit record``'s record pass, or the kernel shutting down. A run whose last answer to some
request was an upstream error (401, 429 or 5xx on every retry) never ends well: the recorded answers
stay as they were.

Policies (how the file is replaced; ``commit_policy`` derives one from the run's RecordMode): ``all``
(RECORD or AUTHOR in a whole run, ``lessonkit record``: the recording becomes exactly this run's answers;
the old file is not even parsed, so a corrupt one can be re-recorded), ``missing`` (EXTEND,
``--missing-only``: known requests are replayed, new ones recorded and added), ``merge`` (RECORD or AUTHOR
in a kernel: requests this run asked are replaced, every other recorded answer is kept, so a half-run
lesson loses nothing).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ...errors import CorruptRecordingError, RecordingNotCommittedError
from ...support.files import describe_os_error
from ...support.redact import redact_data
from .canonical import request_key
from .cassette import Cassette, _key, project_relative
from .recorder import RecordMode

Policy = Literal["all", "missing", "merge"]
JOURNAL_FORMAT = "lessonkit-pending/1"
RECORDING_MARKER = b'"lessonkit-recording/'  # every recording lessonkit ever wrote starts with its format


def commit_policy(mode: RecordMode, *, whole_run: bool) -> Policy:
    """How a record run replaces its recording: EXTEND adds; a whole run replaces; a kernel's (maybe half) run merges."""
    if mode is RecordMode.EXTEND:
        return "missing"
    if mode is RecordMode.REPLAY:
        raise ValueError("a replay run replaces no recording")
    return "all" if whole_run else "merge"


def journal_path(target: Path) -> Path:
    """Where a record-mode run keeps its answers until it ends well: a hidden file beside the recording."""
    return target.parent / f".{target.name}.pending"


def is_replaceable(path: Path) -> bool:
    """True when ``path`` is absent, empty, or a lessonkit recording (even a corrupt one): ours to replace."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except FileNotFoundError:
        return True
    except IsADirectoryError:
        return False
    start = head.lstrip()
    return not start or (start.startswith(b"{") and RECORDING_MARKER in start[:200])  # its first key is the format


def refuse_foreign(path: Path) -> None:
    """Never overwrite a file lessonkit did not make, whatever sits at a recording's path."""
    if not is_replaceable(path):
        kind = "a folder" if path.is_dir() else "a file that is not a lessonkit recording"
        raise CorruptRecordingError(
            f"{project_relative(path)} is {kind}; lessonkit will not replace it. Move it away (or rename the "
            "lesson), then record again."
        )


def merged(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Old answers to requests this run did not ask, then this run's answers (repeats keep their order)."""
    asked = {(item["kind"], request_key(item["request"])) for item in new}
    return [item for item in old if (item["kind"], request_key(item["request"])) not in asked] + list(new)


def final_errors(interactions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Chat interactions whose last answer was an error: the client gave up, so the run did not end well.

    A 429 followed by a success for the same request is a retry the recording should keep; a 401 or a
    429 with nothing after it is an outage the recording must not be replaced with.
    """
    last: dict[str, Mapping[str, Any]] = {}
    for item in interactions:
        if item.get("kind") == "chat":
            last[request_key(item["request"])] = item
    return [item for item in last.values() if item["response"].get("status") != 200]


class PendingCassette(Cassette):
    """A cassette whose answers go to a journal; the recording itself changes only in ``commit``."""

    def __init__(self, target: Path, notebook: str, *, policy: Policy, prune: bool = True) -> None:
        target = Path(target)
        refuse_foreign(target)
        # "all" never parses the old file (it may be the corrupt one being replaced); the others keep its answers.
        super().__init__(target, notebook=notebook, load=policy != "all")
        self.policy = policy
        self.prune = prune  # under "missing": drop the answers this run never asked for (a whole lesson ran)
        self.journal = journal_path(target)
        self.kept_journal = keep_earlier_journal(self.journal)
        self._loaded = self._journaled = len(self.interactions)
        self.written = False  # has this run replaced the recording yet?

    @property
    def pending(self) -> bool:
        """Answers not in the recording yet, or answers to prune (or a full re-record that has not written it once)."""
        return len(self.interactions) > self._loaded or (self.policy == "all" and not self.written) or bool(self.unused())

    def unused(self) -> list[dict[str, Any]]:
        """Under ``missing`` (a whole run, known requests replayed): loaded answers this run never asked for."""
        if self.policy != "missing" or self.written or not self.prune:
            return []
        return [item for item in self.interactions[:self._loaded] if not self._played[_key(item["kind"], item["request"])]]

    def save(self) -> None:
        """Append the answers added since the last call to the journal (the recording is not touched)."""
        new = self.interactions[self._journaled:]
        if not new:
            return
        try:
            fresh = not self.journal.exists()
            with self.journal.open("a", encoding="utf-8") as handle:
                if fresh:
                    handle.write(json.dumps({"format": JOURNAL_FORMAT, "recording": self.path.name, "policy": self.policy}) + "\n")
                for item in new:
                    handle.write(json.dumps(redact_data(item), ensure_ascii=False) + "\n")
        except OSError as err:
            raise RecordingNotCommittedError(
                f"could not add an answer to {project_relative(self.journal)}: {describe_os_error(err)}. "
                f"{project_relative(self.path)} is unchanged."
            ) from err
        self._journaled = len(self.interactions)

    def problems(self) -> list[str]:
        """Why this run may not replace the recording (empty when it may)."""
        return [
            f"the last answer to a model request was HTTP {item['response']['status']}"
            for item in final_errors(self.interactions[self._loaded:])
        ]

    def commit(self) -> str:
        """Replace the recording with this run's answers, atomically; refuse if the run did not end well.

        After a commit the recording is the new starting point: answers recorded later are pending again
        and go in at the next commit (or at kernel shutdown).
        """
        self.save()
        problems = self.problems()
        if problems:
            raise RecordingNotCommittedError(
                f"not replacing {project_relative(self.path)}: {'; '.join(sorted(set(problems)))} (an upstream "
                f"error, on every retry). The recording is unchanged; this run's answers are in "
                f"{project_relative(self.journal)}. Fix the cause (key, quota, service) and record again."
            )
        new = self.interactions[self._loaded:]
        unused = self.unused()  # a whole run replayed what it still asks: no cell uses the rest any more
        pruned = len(unused)
        if pruned:
            gone = {id(item) for item in unused}
            self.document["interactions"] = [item for item in self.interactions[:self._loaded] if id(item) not in gone] + new
        if self.pending or pruned:
            if self.policy == "merge":
                self.document["interactions"] = merged(self.interactions[:self._loaded], new)
            Cassette.save(self)
            summary = f"saved {project_relative(self.path)}: {len(new)} answers recorded, {len(self.interactions)} in all"
        else:
            summary = f"{project_relative(self.path)} unchanged: this run recorded no answers"
        if pruned:
            summary += f"; pruned {pruned} unused answer{'s' if pruned != 1 else ''} (no cell asks for them any more)"
        self.written = True
        self._loaded = self._journaled = len(self.interactions)
        with contextlib.suppress(FileNotFoundError):
            self.journal.unlink()  # ours: this run's journal, now in the recording
        return summary


def keep_earlier_journal(journal: Path) -> Path | None:
    """An earlier run's journal holds answers that were paid for and never committed: keep it, renamed
    beside the recording (never truncated), and say where. Returns its new name, or None."""
    if not journal.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = journal.with_name(f"{journal.name}-{stamp}")
    n = 1
    while kept.exists():
        kept, n = journal.with_name(f"{journal.name}-{stamp}-{n}"), n + 1
    os.replace(journal, kept)
    return kept


_OPEN: dict[Path, PendingCassette] = {}


def pending_cassette(target: Path, notebook: str, *, policy: Policy) -> PendingCassette:
    """The one record-mode cassette per recording per process (every ``start`` in a kernel shares it)."""
    target = Path(target).resolve()
    if target not in _OPEN:
        _OPEN[target] = PendingCassette(target, notebook, policy=policy)
    return _OPEN[target]


def commit_all() -> list[str]:
    """Commit every record-mode cassette of this process; what ``lessonkit record`` runs at the end of its pass."""
    return [cassette.commit() for cassette in list(_OPEN.values()) if cassette.pending]


def discard_all() -> None:
    """Forget every record-mode cassette of this process without committing (their journals stay)."""
    _OPEN.clear()


@atexit.register
def _commit_at_exit() -> None:
    """A kernel shutting down ends the run: commit what ended well, explain what did not."""
    for cassette in list(_OPEN.values()):
        if not cassette.pending:
            continue
        try:
            cassette.commit()
        except Exception as err:  # noqa: BLE001 - at exit, say it and go on with the next one
            print(f"lessonkit: {err}", file=sys.stderr)
