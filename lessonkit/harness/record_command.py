"""``lessonkit record``: refresh a lesson's recording and outputs, or change nothing at all.

Both passes run against a staging folder beside the notebook (``notebooks/.lessonkit-record-XXXX``):
the record pass writes the new recording there, the replay pass writes the executed notebook there.
Only when both passes succeed are the two files moved over the old ones, by rename, under a commit
journal: if the process is killed between the two renames, the next ``lessonkit`` command finishes
them. Signals (Ctrl-C, SIGTERM, SIGHUP) before that point stop the run and leave the previous
recording and notebook byte-identical; a full disk fails a write into staging, never a real file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import LessonkitError, MissingKeyError
from .execute import execute_notebook, read_notebook
from ..support.files import atomic_write_text, describe_os_error
from .lesson_names import check_notebook_names
from .modes import load_env
from .recording.authoring import load_script
from .recording.cassette import Cassette, project_relative, recording_summary
from .recording.session import refuse_foreign
from ..support.redact import redact
from .settings import Settings

STAGING_PREFIX = ".lessonkit-record-"
OWNER_FILE = "owner.json"  # marks a staging folder as lessonkit's (only such folders are ever removed)
COMMIT_FILE = "commit.json"  # the renames still to do, written before the first one
COMMIT_CELL = "import lessonkit.harness.recording.session as _lk_session\nprint(*_lk_session.commit_all(), sep='\\n')"
WARNINGS_CELL = ("import lessonkit.harness.recording.authoring as _lk_authoring\n"
                 "print(*('warning: ' + w for w in _lk_authoring.script_warnings(unused={unused})), sep='\\n')")
# What each pass's kernel is told (the rest, e.g. the data folder, it inherits); both run at speed 0.
PASS_SETTINGS = ("mode", "replay_speed", "script", "record_policy", "recordings_dir", "shown_as")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; raised where the program is, so every ``finally`` runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def words(self) -> str:
        name = signal.Signals(self.signum).name
        return {"SIGINT": "SIGINT (Ctrl-C)", "SIGHUP": "SIGHUP (the terminal closed)"}.get(name, name)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[list[int]]:
    """Turn SIGINT, SIGTERM and SIGHUP into ``Stopped`` for the length of the block.

    The signals that arrived are also listed in what the block gets: library code on the way (the
    notebook client's event loop) may catch the exception, and a stop must still count as a stop.
    """
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield received
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Hold stop signals back while the renames run (they are delivered right after)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---------------------------------------------------------------- staging and the commit journal

class CommitRefused(LessonkitError):
    """A target changed while the lesson was being recorded: replacing it would lose someone's edits."""


def digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (None when there is no file): 'is it still what we started from?'."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def staged_moves(stage: Path, lesson: str) -> list[tuple[Path, Path]]:
    """Where a stage's two files go. Rebuilt from the lesson name, never read from a file in the stage:
    a staging folder that arrived with a cloned repository cannot point a rename anywhere else."""
    if not lesson or Path(lesson).name != lesson or lesson.startswith("."):
        raise CommitRefused(f"{stage.name}: {lesson!r} is not a lesson name; the folder was left alone")
    return [(stage / "recordings" / f"{lesson}.json", stage.parent / "recordings" / f"{lesson}.json"),
            (stage / f"{lesson}.ipynb", stage.parent / f"{lesson}.ipynb")]


def new_staging(notebook: Path) -> Path:
    """A private folder beside the notebook (same file system, so the final moves are renames).

    It records what the recording and the notebook were when the run started, so the commit can
    refuse to overwrite an edit made meanwhile (a notebook saved from JupyterLab, another record).
    """
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=notebook.parent))
    before = {str(dst): digest(dst) for _, dst in staged_moves(stage, notebook.stem)}
    atomic_write_text(stage / OWNER_FILE, json.dumps({"pid": os.getpid(), "lesson": notebook.stem, "before": before}))
    return stage


def _owner(stage: Path) -> dict[str, object] | None:
    """The owner file of a staging folder this user made; None for anything else (left alone)."""
    owner = stage / OWNER_FILE
    try:
        if stage.is_symlink() or stage.stat().st_uid != os.geteuid() or owner.stat().st_uid != os.geteuid():
            return None
        data = json.loads(owner.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def commit(stage: Path) -> None:
    """Move the staged recording and notebook over the real ones: check, journal, rename, clean up."""
    with stop_signals_blocked():
        finish_commit(stage, first=True)


def finish_commit(stage: Path, *, first: bool = False) -> None:
    """Do a stage's renames (again: a rename already done is skipped), each only over an unchanged target."""
    owner = _owner(stage)
    if owner is None:
        raise CommitRefused(f"{stage} is not a staging folder of yours; it was left alone")
    moves = staged_moves(stage, str(owner.get("lesson", "")))
    before = owner.get("before") if isinstance(owner.get("before"), dict) else {}
    changed = [dst for src, dst in moves if src.exists() and digest(dst) != before.get(str(dst))]  # type: ignore[union-attr]
    if changed:
        names = " and ".join(project_relative(dst) for dst in changed)
        raise CommitRefused(
            f"{names} changed while the lesson was being recorded, so lessonkit did not replace "
            f"{'it' if len(changed) == 1 else 'them'} (your edits are kept). The new files are in "
            f"{project_relative(stage)}: compare, then copy what you want and delete that folder, or record again.")
    if first:
        atomic_write_text(stage / COMMIT_FILE, json.dumps({"lesson": owner["lesson"]}))
    for src, dst in moves:
        if src.exists():
            with contextlib.suppress(FileNotFoundError):
                os.chmod(src, stat.S_IMODE(dst.stat().st_mode))  # a group-readable lesson stays group-readable
            dst.parent.mkdir(exist_ok=True)  # a new lesson's first recording: notebooks/recordings/ may not exist yet
            os.replace(src, dst)
    remove_staging(stage)


def remove_staging(stage: Path) -> None:
    """Remove a staging folder, and only one this user's lessonkit made (it holds the owner file)."""
    if _owner(stage) is not None:
        shutil.rmtree(stage, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process still exists (one we may not signal still counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(folder: Path, *, apply: bool = True) -> list[str]:
    """Staging folders killed runs left: finish their journaled commits (only over unchanged files) and
    drop those that died before committing. ``apply=False`` (``doctor``) only says what it would do."""
    notes = []
    for stage in sorted(folder.glob(STAGING_PREFIX + "*")):
        owner = _owner(stage) if stage.is_dir() else None
        if owner is None:
            continue  # not ours: leave it alone
        if (stage / COMMIT_FILE).is_file():
            if not apply:
                notes.append(f"{stage.name} holds an interrupted commit; the next `lessonkit record` finishes it")
                continue
            try:
                finish_commit(stage)
                notes.append(f"finished an interrupted commit from {stage.name}")
            except CommitRefused as refused:
                notes.append(str(refused))
            continue
        pid = owner.get("pid")
        if isinstance(pid, int) and not pid_alive(pid):
            if apply:
                remove_staging(stage)
            else:
                notes.append(f"{stage.name} was left by a run that died; the next `lessonkit record` removes it")
    return notes


# ---------------------------------------------------------------- the command

def record(notebook: Path, script: Path | None, missing_only: bool, strict: bool = False) -> int:
    """Re-record a lesson (live, or from a script), then re-run it in replay and save those outputs."""
    load_env()
    if script is None and not os.environ.get("OPENAI_API_KEY"):
        raise MissingKeyError(
            "Recording live needs OPENAI_API_KEY (and TAVILY_API_KEY for lessons that search): put them in .env, "
            "or author the responses offline with --script FILE (see README)."
        )
    notebook = notebook.resolve()
    check_notebook_names(notebook, read_notebook(notebook))
    if script is not None:
        load_script(script)  # a missing or malformed script is said now, not after a kernel has started
    recording = notebook.parent / "recordings" / f"{notebook.stem}.json"
    refuse_foreign(recording)
    for note in recover(notebook.parent):
        print(f"lessonkit: {note}")
    unchanged = f"{project_relative(recording)} and {project_relative(notebook)} are as they were"
    stage = None
    try:
        with stop_signals_raise() as received:
            stage = new_staging(notebook)
            ok = _two_passes(notebook, recording, stage, script, missing_only, strict)
            if received:
                raise Stopped(received[0])
            if not ok:
                print(f"kept the previous recording and notebook: {unchanged}")
                return 1
            commit(stage)
    except Stopped as stop:
        print(f"lessonkit record: stopped by {stop.words()} before the end; nothing was replaced: {unchanged}.")
        return 128 + stop.signum
    except OSError as err:
        print(f"lessonkit record: could not write into the staging folder: {describe_os_error(err)}.")
        print(f"kept the previous recording and notebook: {unchanged}")
        return 1
    except CommitRefused as err:
        print(f"lessonkit record: {redact(str(err))}")
        stage = None  # keep it: it holds the new files
        return 1
    except LessonkitError as err:
        print(f"lessonkit record: {redact(str(err))}")
        print(f"kept the previous recording and notebook: {unchanged}")
        return 1
    finally:
        if stage is not None and stage.exists() and not (stage / COMMIT_FILE).exists():
            remove_staging(stage)
    print(f"saved {recording_summary(Cassette(recording))} and the notebook's outputs")
    return 0


def _two_passes(notebook: Path, recording: Path, stage: Path, script: Path | None, missing_only: bool, strict: bool = False) -> bool:
    """Record into the stage, then replay from it and save the executed notebook into it; True if both ran."""
    staged_recordings = stage / "recordings"
    staged_recordings.mkdir()
    if missing_only and recording.exists():
        shutil.copyfile(recording, staged_recordings / recording.name)
    staged = Settings(recordings_dir=staged_recordings, shown_as=project_relative(recording.parent))
    env = staged.replace(mode="record", script=script.resolve() if script else None,
                         record_policy="missing" if missing_only else "all").to_env(*PASS_SETTINGS)
    finish = COMMIT_CELL + "\n" + WARNINGS_CELL.format(unused=not missing_only) if script else COMMIT_CELL
    first = execute_notebook(notebook, env, finish=finish)
    print("record pass:", first.summary())
    lines = [line for line in first.finish_output.splitlines() if line.strip()]
    for line in lines:
        print("  " + line.replace(project_relative(staged_recordings), project_relative(recording.parent)))
    if strict and any(line.startswith("warning: ") for line in lines):
        print("lessonkit record --strict: the script has the warnings above; nothing is replaced. Fix the script and record again.")
        return False
    if not first.ok:
        return False
    replay = staged.replace(mode="replay", replay_speed=0.0).to_env(*PASS_SETTINGS)
    second = execute_notebook(notebook, replay, save_to=stage / notebook.name)
    print("replay pass:", second.summary())
    if second.ok and not (stage / notebook.name).exists():
        raise LessonkitError("the replay pass ran but its notebook was not written")
    return second.ok
