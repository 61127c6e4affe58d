"""The usage ledger (lessonkit/harness/usage.py): which recorded answers a full replay run used, and what doctor says."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lessonkit.harness import usage
from lessonkit.harness.recording import Cassette
from lessonkit.harness.recording.session import PendingCassette
from lessonkit.harness.usage_pytest import whole_lesson_passed
from tests.conftest import ROOT

WHEN = dt.datetime(2025, 3, 4, 5, 6, 7)
CHAT = {"kind": "chat", "origin": "authored", "request": {"messages": [{"role": "user", "content": "What is the weather in sf?"}]}}
SEARCH = {"kind": "search", "origin": "authored", "request": {"query": "old question"}}
STORED = {**SEARCH, "response": {"duration": 0.0, "result": {"results": []}}}  # as a recording file holds it


def ledger(used: list[int], total: int = 3, recording_sha: str = "r1", code_sha: str = "c1") -> dict:
    return usage.make_ledger(Path("/p/notebooks/recordings/x.json"), recording_sha, Path("/p/notebooks/x.ipynb"), code_sha,
                             total, used, "lessonkit run", WHEN)


# ---------------------------------------------------------------- pure: deciding

def test_judge_counts_the_answers_no_request_asked_for() -> None:
    verdict = usage.judge(ledger([0, 2]), "r1", 3, "c1")
    assert verdict == usage.Verdict("unused", 3, (1,), "2025-03-04 05:06")
    assert usage.judge(ledger([2, 0, 1]), "r1", 3, "c1").state == "all-used"


def test_judge_says_unknown_without_a_ledger_or_after_a_change() -> None:
    assert usage.judge(None, "r1", 3, "c1").state == "never"
    assert usage.judge(ledger([0]), "r2", 3, "c1").state == "recording-changed"  # edited, re-recorded, pruned
    assert usage.judge(ledger([0], total=2), "r1", 3, "c1").state == "recording-changed"
    assert usage.judge(ledger([0]), "r1", 3, "c2").state == "code-changed"  # a cell edited: it may ask other things


def test_describe_says_what_to_run() -> None:
    items = [CHAT, SEARCH, CHAT]
    prune = "python -m lessonkit record notebooks/x.ipynb --missing-only"
    said = usage.describe(usage.judge(ledger([0, 2]), "r1", 3, "c1"), items, "notebooks/x.ipynb", prune)
    assert said == ("1 unused answer of 3 (interactions[1]: search 'old question') as of the last full run on 2025-03-04 05:06: "
                    f"run `{prune}` to prune it")
    many = usage.describe(usage.Verdict("unused", 5, (0, 1, 2, 3), "d"), [CHAT, SEARCH, CHAT, SEARCH, CHAT], "nb", "p")
    assert many.startswith("4 unused answers of 5 (interactions[0]: chat after 'What is the weather in sf?'; ") and "and 1 more" in many
    assert many.endswith("to prune them")
    assert usage.describe(usage.Verdict("all-used", 3, (), "d"), items, "nb", "p") == "all 3 answers used (last full run on d)"
    never = usage.describe(usage.Verdict("never", 3), items, "notebooks/x.ipynb", "p")
    assert never == "usage unknown (no full replay run of x.ipynb yet): run `python -m lessonkit run notebooks/x.ipynb` to check"
    changed = usage.describe(usage.Verdict("recording-changed", 3, (), "d"), items, "nb", "p")
    assert changed.startswith("usage unknown (the recording changed since the last full run on d): run `python -m lessonkit run nb`")


def test_parse_ledger_refuses_what_it_did_not_write() -> None:
    good = ledger([0, 1])
    assert usage.parse_ledger(json.loads(json.dumps(good))) == good
    assert usage.parse_ledger({**good, "format": "other/1"}) is None
    assert usage.parse_ledger({**good, "used": [3]}) is None  # past the end
    assert usage.parse_ledger({**good, "finished": "yesterday"}) is None
    assert usage.parse_ledger([good]) is None


def test_usage_dir_is_a_per_user_cache_never_the_project() -> None:
    assert usage.usage_dir({"LESSONKIT_USAGE_DIR": "/x/u"}) == Path("/x/u")
    assert usage.usage_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/lessonkit/usage")
    assert usage.usage_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "lessonkit" / "usage"
    assert usage.usage_dir({}) == Path.home() / ".cache" / "lessonkit" / "usage"


def test_code_digest_follows_the_code_only() -> None:
    assert usage.code_digest(["a", "b"]) == usage.code_digest(["a", "b"]) != usage.code_digest(["a", "b "])
    assert usage.code_digest(["ab"]) != usage.code_digest(["a", "b"])


def test_a_notebook_counts_only_when_every_code_cell_ran_and_passed() -> None:
    cells = ["nb::Cell 0", "nb::Cell 1"]
    assert whole_lesson_passed(cells, 2, set(cells), set())
    assert not whole_lesson_passed(cells, 2, set(cells), {"nb::Cell 1"})  # failed (or skipped) in a phase
    assert not whole_lesson_passed(cells[:1], 2, set(cells), set())  # a cell deselected
    assert not whole_lesson_passed(cells, 2, {"nb::Cell 0"}, set())  # the last one never reported (Ctrl-C)


# ---------------------------------------------------------------- the kernel side, in process

def lesson_folder(tmp_path: Path, interactions: list[dict]) -> tuple[Path, Path]:
    (tmp_path / "pyproject.toml").write_text("")
    notebook = tmp_path / "notebooks" / "x.ipynb"
    (notebook.parent / "recordings").mkdir(parents=True)
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    recording = notebook.parent / "recordings" / "x.json"
    recording.write_text(json.dumps({"format": "lessonkit-recording/1", "interactions": interactions}))
    return notebook, recording


def test_a_full_run_writes_a_ledger_and_says_what_is_unused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    notebook, recording = lesson_folder(tmp_path, [STORED, {**STORED, "request": {"query": "asked"}}])
    monkeypatch.setattr(usage, "_TRACKED", [])
    monkeypatch.setenv(usage.VARIABLE, str(tmp_path / "usage"))
    cassette = Cassette(recording)
    cassette.play("search", {"query": "asked"})
    usage.finish_run(str(notebook), usage.code_digest([]), "test")
    said = capsys.readouterr().out
    assert said.startswith("notebooks/recordings/x.json: 1 unused answer of 2 (interactions[0]: search 'old question')")
    assert "`python -m lessonkit record notebooks/x.ipynb --missing-only` to prune it" in said
    [written] = (tmp_path / "usage").iterdir()
    stored = json.loads(written.read_text())
    assert stored["used"] == [1] and stored["recording_sha256"] == usage.sha256(recording.read_bytes())
    assert set(stored) == {"format", "recording", "recording_sha256", "notebook", "notebook_code_sha256", "interactions",
                           "used", "runner", "finished"}  # paths, hashes, indices, when: nothing else
    monkeypatch.delenv(usage.VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    assert usage.recording_verdict(recording, {usage.VARIABLE: str(tmp_path / "usage")}).startswith("1 unused answer of 2")
    assert usage.recording_verdict(recording).startswith("usage unknown (no full replay run")


def test_only_a_full_runs_kernel_tracks_and_never_a_record_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, recording = lesson_folder(tmp_path, [STORED])
    monkeypatch.setattr(usage, "_TRACKED", [])
    monkeypatch.delenv(usage.VARIABLE, raising=False)
    Cassette(recording)
    assert usage._TRACKED == []  # a student's kernel remembers nothing
    monkeypatch.setenv(usage.VARIABLE, str(tmp_path / "usage"))
    PendingCassette(recording, "x.ipynb", policy="missing")
    assert usage._TRACKED == []
    Cassette(recording)
    assert len(usage._TRACKED) == 1


def test_usage_dir_without_a_home_folder_is_a_temp_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert usage.usage_dir({}).parent == Path(tempfile.gettempdir())


def test_ledgers_of_lessons_missing_here_are_kept(tmp_path: Path) -> None:
    """Another checkout, branch or user may share the folder: a ledger is never deleted by someone else's run."""
    folder = tmp_path / "usage"
    elsewhere = usage.make_ledger(tmp_path / "gone.json", "r", tmp_path / "gone.ipynb", "c", 1, [0], "t", WHEN)
    usage.write_ledger(folder, elsewhere)
    (folder / "notes.json").write_text("not ours")
    notebook, recording = lesson_folder(tmp_path, [STORED])
    usage.write_ledger(folder, usage.make_ledger(recording, "r", notebook, "c", 1, [0], "t", WHEN))
    names = [usage.ledger_name(recording, notebook), usage.ledger_name(tmp_path / "gone.json", tmp_path / "gone.ipynb"), "notes.json"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_the_nbval_internals_the_usage_hooks_use_still_exist() -> None:
    """lessonkit/harness/usage_pytest.py reaches into nbval (no public hook runs code in a lesson's kernel): fail loudly if they move."""
    import inspect

    from nbval.kernel import RunningKernel
    from nbval.plugin import IPyNbFile

    for name in ("execute_cell_input", "await_reply", "is_alive"):
        assert callable(getattr(RunningKernel, name, None)), f"nbval's RunningKernel has no {name} any more: update lessonkit/harness/usage_pytest.py"
    source = inspect.getsource(IPyNbFile)
    assert "self.kernel =" in source and "self.nb =" in source, "nbval's IPyNbFile no longer keeps .kernel/.nb: update lessonkit/harness/usage_pytest.py"


# ---------------------------------------------------------------- pytest --nbval, for real

def nbval(lesson: Path, usage_folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-p", "no:schemathesis",
         "--nbval-lax", "--nbval-current-env", str(lesson)],
        cwd=lesson.parent.parent, capture_output=True, text=True, timeout=300,
        env={**os.environ, usage.VARIABLE: str(usage_folder)},
    )


def test_an_nbval_run_records_usage_only_when_every_cell_passed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    lesson = tmp_path / "notebooks" / "00_quickstart.ipynb"
    (lesson.parent / "recordings").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "00_quickstart.ipynb", lesson)
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    stored = json.loads((ROOT / "notebooks" / "recordings" / "00_quickstart.json").read_text())
    stored["interactions"].append({**stored["interactions"][1], "request": {**stored["interactions"][1]["request"], "query": "stale"}})
    recording.write_text(json.dumps(stored))
    folder = tmp_path / "usage"
    ran = nbval(lesson, folder)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    said = usage.recording_verdict(recording, {usage.VARIABLE: str(folder)})
    assert said.startswith("1 unused answer of 5 (interactions[4]: search 'stale')"), said
    shutil.rmtree(folder)
    notebook = json.loads(lesson.read_text())
    last = [c for c in notebook["cells"] if c["cell_type"] == "code"][-1]
    last["source"] = "raise RuntimeError('a failing last cell')"
    lesson.write_text(json.dumps(notebook))
    failed = nbval(lesson, folder)
    assert failed.returncode == 1
    assert not folder.exists() or not list(folder.iterdir())  # a failed run claims nothing
