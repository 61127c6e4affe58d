"""`lessonkit record` is crash-safe: signals, SIGKILL and a full disk leave the previous files byte-identical.

Each test runs the real command in a subprocess on a copy of lesson 00 with its authored script (no
network), provokes the fault, and compares the recording and the notebook with their bytes before.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from lessonkit.harness.record_command import COMMIT_FILE, OWNER_FILE, STAGING_PREFIX, new_staging, recover
from tests.conftest import ROOT
from tests.test_cli import copy_lesson, lessonkit

SCRIPT = ROOT / "notebooks" / "scripts" / "00_quickstart.json"


def snapshot(lesson: Path) -> dict[str, bytes]:
    recording = lesson.parent / "recordings" / f"{lesson.stem}.json"
    return {"notebook": lesson.read_bytes(), "recording": recording.read_bytes()}


def start_record(lesson: Path, cwd: Path, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lessonkit", "record", str(lesson), "--script", str(SCRIPT)], cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "OPENAI_API_KEY": ""},
        **popen,  # type: ignore[arg-type]
    )


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the moment to strike never came"
        time.sleep(0.02)


def staged(lesson: Path) -> list[Path]:
    return list(lesson.parent.glob(STAGING_PREFIX + "*"))


def in_record_pass(lesson: Path) -> bool:
    """The record pass's kernel has opened its journal: answers are being recorded."""
    return any((s / "recordings" / f".{lesson.stem}.json.pending").exists() for s in staged(lesson))


def in_replay_pass(lesson: Path) -> bool:
    """The record pass has committed into the stage: the replay pass is running."""
    return any((s / "recordings" / f"{lesson.stem}.json").exists() for s in staged(lesson))


@pytest.mark.parametrize("signum, moment", [
    (signal.SIGINT, in_record_pass), (signal.SIGTERM, in_replay_pass), (signal.SIGHUP, in_record_pass),
])
def test_a_stop_signal_changes_nothing_and_says_so(tmp_path: Path, signum: int, moment) -> None:  # type: ignore[no-untyped-def]
    lesson = copy_lesson(tmp_path)
    before = snapshot(lesson)
    proc = start_record(lesson, tmp_path)
    wait_for(lambda: moment(lesson))
    os.killpg(proc.pid, signum) if signum == signal.SIGINT else proc.send_signal(signum)  # Ctrl-C goes to the group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, out + err
    name = signal.Signals(signum).name
    assert f"stopped by {name}" in out and "nothing was replaced" in out
    assert "notebooks/recordings/00_quickstart.json and notebooks/00_quickstart.ipynb are as they were" in out
    assert "Traceback" not in out + err and "AssertionError" not in out + err
    assert snapshot(lesson) == before
    assert staged(lesson) == []  # its own staging folder is gone


def test_sigkill_at_any_moment_keeps_both_files_whole(tmp_path: Path) -> None:
    """SIGKILL during each pass: both files byte-identical; the next command clears what the dead run left."""
    lesson = copy_lesson(tmp_path)
    before = snapshot(lesson)
    for moment in (in_record_pass, in_replay_pass):
        proc = start_record(lesson, tmp_path)
        wait_for(lambda: moment(lesson))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert snapshot(lesson) == before
        assert staged(lesson), "a killed run cannot clean up after itself"
        recover(lesson.parent)  # what the next `lessonkit record` or `doctor` does first
        assert staged(lesson) == [] and snapshot(lesson) == before


def half_committed_stage(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A run killed between its two renames: the recording is already new, the notebook still old."""
    (tmp_path / "recordings").mkdir()
    recording, notebook = tmp_path / "recordings" / "x.json", tmp_path / "x.ipynb"
    recording.write_text("old recording")
    notebook.write_text("old notebook")
    stage = new_staging(notebook)
    (stage / "recordings").mkdir()
    (stage / "recordings" / "x.json").write_text("new recording")
    (stage / "x.ipynb").write_text("new notebook")
    (stage / COMMIT_FILE).write_text(json.dumps({"lesson": "x"}))
    os.replace(stage / "recordings" / "x.json", recording)  # the first rename happened, then SIGKILL
    return stage, recording, notebook


def test_a_commit_killed_between_its_renames_is_finished_by_the_next_command(tmp_path: Path) -> None:
    """The two renames are journaled: a run killed after the first finishes on the next `recover`."""
    stage, recording, notebook = half_committed_stage(tmp_path)
    assert recover(tmp_path, apply=False) == [f"{stage.name} holds an interrupted commit; the next `lessonkit record` finishes it"]
    assert notebook.read_text() == "old notebook"  # doctor only says it
    assert recover(tmp_path) == [f"finished an interrupted commit from {stage.name}"]
    assert (recording.read_text(), notebook.read_text()) == ("new recording", "new notebook")
    assert not stage.exists()


def test_finishing_a_commit_never_overwrites_an_edit_made_since(tmp_path: Path) -> None:
    stage, _, notebook = half_committed_stage(tmp_path)
    notebook.write_text("the instructor's edits")
    (note,) = recover(tmp_path)
    assert "changed while the lesson was being recorded" in note and "your edits are kept" in note
    assert notebook.read_text() == "the instructor's edits" and (stage / "x.ipynb").read_text() == "new notebook"


def test_a_staging_folder_from_a_cloned_repository_cannot_point_anywhere(tmp_path: Path) -> None:
    """Renames are rebuilt from the lesson name: a crafted journal or owner file cannot redirect them."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    stage = tmp_path / (STAGING_PREFIX + "evil")
    stage.mkdir()
    (stage / "p").write_text("attacker")
    (stage / OWNER_FILE).write_text(json.dumps({"pid": 999_999_999, "lesson": "../victim.txt", "before": {}}))
    (stage / COMMIT_FILE).write_text(json.dumps([[str(stage / "p"), str(victim)]]))
    assert "is not a lesson name" in recover(tmp_path)[0]
    assert victim.read_text() == "precious" and (stage / "p").exists()


def test_recover_leaves_folders_it_did_not_make(tmp_path: Path) -> None:
    stranger = tmp_path / (STAGING_PREFIX + "not-ours")
    stranger.mkdir()
    (stranger / "keep.txt").write_text("mine")
    (stranger / COMMIT_FILE).write_text("[]")
    assert recover(tmp_path) == []
    assert (stranger / "keep.txt").read_text() == "mine"


def test_a_notebook_edited_during_record_is_not_overwritten(tmp_path: Path) -> None:
    """Someone saves the notebook from JupyterLab while `lessonkit record` runs: their edit wins, and
    the new files wait in the staging folder."""
    lesson = copy_lesson(tmp_path)
    proc = start_record(lesson, tmp_path)
    wait_for(lambda: in_record_pass(lesson))
    lesson.write_bytes(lesson.read_bytes().replace(b"What is the weather in sf?", b"What is the weather in sf?"))  # same text...
    edited = lesson.read_bytes() + b"\n"  # ...plus a byte: a save from JupyterLab
    lesson.write_bytes(edited)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "notebooks/00_quickstart.ipynb changed while the lesson was being recorded" in out and "your edits are kept" in out
    assert lesson.read_bytes() == edited
    (left,) = staged(lesson)
    assert (left / "00_quickstart.ipynb").exists()


def limit_file_size(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


ANSWER = " ".join(f"word{n}" for n in range(2000))  # ~14 kB of text: the recording holds it once, in chunks


def big_answer_lesson(tmp_path: Path) -> tuple[Path, Path]:
    """A lesson with no database (the limit must hit lessonkit's files first) whose notebook is larger than
    its recording: it prints the answer ten times (a chunked recording is ~7x its text)."""
    (tmp_path / "pyproject.toml").write_text("")
    lesson = tmp_path / "notebooks" / "big.ipynb"
    (lesson.parent / "recordings").mkdir(parents=True)
    cells = [
        'import lessonkit\nfrom langchain_core.messages import HumanMessage\nlesson = lessonkit.start("big")',
        'answer = lesson.chat_model().invoke([HumanMessage("Say many words.")]).content\nprint(answer * 10)',
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), lesson)
    script = tmp_path / "big_script.json"
    script.write_text(json.dumps({"note": "test", "chat": [{"content": ANSWER}]}))
    first = lessonkit("record", str(lesson), "--script", str(script), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    return lesson, script


@pytest.mark.parametrize("which", ["recording", "notebook"])
def test_a_full_disk_during_a_write_changes_nothing_and_says_so(tmp_path: Path, which: str) -> None:
    """RLIMIT_FSIZE under the size of the file being written: that write fails, nothing is replaced."""
    lesson, script = big_answer_lesson(tmp_path)
    before = snapshot(lesson)
    recording_size, notebook_size = len(before["recording"]), len(before["notebook"])
    assert recording_size < notebook_size
    limit = recording_size // 2 if which == "recording" else (recording_size + notebook_size) // 2
    proc = subprocess.Popen(
        [sys.executable, "-m", "lessonkit", "record", str(lesson), "--script", str(script)], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit_file_size(limit),
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "the file would exceed the size limit for this process (a full disk or a ulimit -f)" in out, out
    assert "kept the previous recording and notebook" in out
    assert "Traceback" not in out + err and "DeadKernelError" not in out and "AssertionError" not in out
    assert snapshot(lesson) == before
    assert staged(lesson) == []


def test_a_copied_lesson_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """One name decides the recording: a copy still calling start("00_quickstart") must not overwrite it."""
    lesson = copy_lesson(tmp_path)
    copy = lesson.parent / "my_lesson.ipynb"
    shutil.copy(lesson, copy)
    before = snapshot(lesson)
    result = lessonkit("record", str(copy), "--script", str(SCRIPT), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "calls lessonkit.start('00_quickstart'), but the notebook is named 'my_lesson'" in message
    assert "notebooks/recordings/00_quickstart.json" in message and "Nothing was written" in message
    assert snapshot(lesson) == before
    assert not (lesson.parent / "recordings" / "my_lesson.json").exists() and staged(lesson) == []


def test_a_notebook_without_a_start_cell_is_refused(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    bare = lesson.parent / "bare.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), bare)
    result = lessonkit("record", str(bare), "--script", str(SCRIPT), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2 and 'never calls lessonkit.start("bare")' in result.stderr


def test_recording_over_a_corrupt_recording_works(tmp_path: Path) -> None:
    """A full re-record does not parse the old file; the result replays (checked by record's own replay pass)."""
    lesson = copy_lesson(tmp_path)
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    recording.write_bytes(recording.read_bytes()[:5000])  # truncated mid-file
    result = lessonkit("record", str(lesson), "--script", str(SCRIPT), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(recording.read_text())["format"] == "lessonkit-recording/1"


def test_a_file_that_is_not_a_recording_is_never_overwritten(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    recording.write_text('{"my": "own data"}')
    result = lessonkit("record", str(lesson), "--script", str(SCRIPT), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2 and "is a file that is not a lessonkit recording" in result.stderr
    assert recording.read_text() == '{"my": "own data"}'


def test_nbclient_still_has_the_exit_hook_lessonkit_unregisters() -> None:
    """execute._execute_in_worker unregisters NotebookClient._cleanup_kernel after a stop (private API canary)."""
    from nbclient import NotebookClient
    assert callable(getattr(NotebookClient, "_cleanup_kernel", None)), "nbclient renamed _cleanup_kernel: update lessonkit/harness/execute.py"


@pytest.mark.parametrize("command", ["run", "record"])
def test_a_file_that_is_not_a_notebook_is_said_in_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / "notes.ipynb").write_text("not json")
    (tmp_path / "folder.ipynb").mkdir()
    for name, says in [("notes.ipynb", "is not a readable notebook"), ("folder.ipynb", "is a folder, not a notebook")]:
        result = lessonkit(command, str(tmp_path / name), "--script", str(SCRIPT)) if command == "record" else lessonkit(command, str(tmp_path / name))
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_missing_script_is_said_before_any_kernel_starts(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    before = snapshot(lesson)
    result = lessonkit("record", str(lesson), "--script", str(tmp_path / "nope.json"), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2 and "nope.json" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(lesson) == before and staged(lesson) == []


def test_a_finished_commit_keeps_the_files_permissions(tmp_path: Path) -> None:
    stage, _, notebook = half_committed_stage(tmp_path)
    notebook.chmod(0o640)
    recover(tmp_path)
    assert notebook.read_text() == "new notebook" and (notebook.stat().st_mode & 0o777) == 0o640
