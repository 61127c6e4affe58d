"""The command line: doctor, run, record (authored, offline) — each run as a real subprocess."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lessonkit.harness import cli
from tests.conftest import ROOT

QUICKSTART = ROOT / "notebooks" / "00_quickstart.ipynb"


def lessonkit(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lessonkit", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_doctor_reports_versions_mode_keys_but_never_values(tmp_path: Path) -> None:
    secret = "sk-" + "doctorSECRET" * 3
    result = lessonkit("doctor", env={"OPENAI_API_KEY": secret, "LESSONKIT_MODE": "replay"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "langgraph " in out and "langchain-openai " in out
    assert "mode: replay (LESSONKIT_MODE)" in out
    assert "OPENAI_API_KEY set" in out and secret not in out
    assert "notebooks/recordings/00_quickstart.json: 3 model responses (3 authored)" in out
    assert f"imported from {ROOT / 'lessonkit'}" in out
    assert "postgres: lessonkit serve uses a per-user SQLite file" in out
    assert "OPENAI_BASE_URL" not in out
    url = "postgresql://u:" + "pw-doctor-42@db.example:5433/class"
    result = lessonkit("doctor", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LESSONKIT_DATABASE_URL": url})
    assert "OPENAI_BASE_URL: http://127.0.0.1:9/v1 (live and record mode talk to this server" in result.stdout
    assert "lessonkit serve uses u@db.example:5433/class (LESSONKIT_DATABASE_URL)" in result.stdout
    assert "pw-doctor-42" not in result.stdout


def test_doctor_names_lessons_without_a_recording(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    shutil.copy(lesson, lesson.parent / "01_new_lesson.ipynb")
    result = lessonkit("doctor", cwd=tmp_path)
    assert "lessons without a recording (replay would miss): 01_new_lesson.ipynb;" in result.stdout


def test_run_executes_a_lesson_in_replay(tmp_path: Path) -> None:
    result = lessonkit("run", "notebooks/00_quickstart.ipynb", env={"LESSONKIT_DATA_DIR": str(tmp_path)})  # not nbval's databases
    assert result.returncode == 0, result.stdout + result.stderr
    assert "00_quickstart.ipynb: ok, 6 code cells" in result.stdout


def copy_lesson(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")  # paths in messages are shown from the project root
    lesson = tmp_path / "notebooks" / "00_quickstart.ipynb"
    (lesson.parent / "recordings").mkdir(parents=True)
    shutil.copy(QUICKSTART, lesson)
    shutil.copy(QUICKSTART.parent / "recordings" / "00_quickstart.json", lesson.parent / "recordings")
    return lesson


def test_run_on_a_stale_recording_fails_with_the_diff(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    notebook = nbformat.read(lesson, 4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("What is the weather in sf?", "What is the weather in Paris?")
    nbformat.write(notebook, lesson)
    good = lesson.parent / "00_quickstart_copy.ipynb"
    shutil.copy(QUICKSTART, good)
    result = lessonkit("run", str(lesson.parent), cwd=tmp_path)  # a folder: every notebook in it
    assert result.returncode == 1
    assert "00_quickstart_copy.ipynb: ok, 6 code cells" in result.stdout
    failing = next(c for c in notebook.cells if c.cell_type == "code" and "Paris" in c.source)
    number = [c for c in notebook.cells if c.cell_type == "code"].index(failing) + 1
    assert f"00_quickstart.ipynb: FAILED, {number} code cells" in result.stdout  # only the cells this run ran
    assert f"code cell {number} (" in result.stdout and ") failed: RecordingMissError" in result.stdout
    assert "2 notebooks, " in result.stdout and "1 failed (00_quickstart.ipynb)" in result.stdout
    assert "RecordingMissError" in result.stdout
    assert "recorded 'What is the weather in sf?' ≠ requested 'What is the weather in Paris?'" in result.stdout
    assert "python -m lessonkit record notebooks/00_quickstart.ipynb" in result.stdout


def test_record_from_a_script_refreshes_recording_and_outputs(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    recording.unlink()
    notebook = nbformat.read(lesson, 4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nbformat.write(notebook, lesson)
    script = ROOT / "notebooks" / "scripts" / "00_quickstart.json"
    result = lessonkit("record", str(lesson), "--script", str(script), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "saved notebooks/recordings/00_quickstart.json: 3 model responses (3 authored); 1 search (1 authored)" in result.stdout
    stored = json.loads(recording.read_text())
    assert all(i["origin"] == "authored" and "note" in i for i in stored["interactions"])
    outputs = [o for c in nbformat.read(lesson, 4).cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and "replay mode" in outputs[0]["text"]  # the saved outputs come from the replay pass


def test_record_missing_only_prunes_answers_no_cell_asks_for(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    stored = json.loads(recording.read_text())
    before = len(stored["interactions"])
    stale = json.loads(json.dumps(next(i for i in stored["interactions"] if i["kind"] == "search")))
    stale["request"]["query"] = "a question the lesson no longer asks"
    stored["interactions"].append(stale)
    recording.write_text(json.dumps(stored))
    script = ROOT / "notebooks" / "scripts" / "00_quickstart.json"
    result = lessonkit("record", str(lesson), "--missing-only", "--script", str(script), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pruned 1 unused answer (no cell asks for them any more)" in result.stdout
    kept = json.loads(recording.read_text())["interactions"]
    assert len(kept) == before and all(i["request"].get("query") != stale["request"]["query"] for i in kept)


def test_a_script_with_unused_or_empty_replies_warns_and_strict_refuses(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    before = recording.read_bytes()
    script = json.loads((ROOT / "notebooks" / "scripts" / "00_quickstart.json").read_text())
    script["chat"] += [{"content": ""}, {"content": "never asked"}]
    script["search"].append({"query": "never searched", "result": {"results": []}})
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    strict = lessonkit("record", str(lesson), "--script", str(path), "--strict", cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert strict.returncode == 1, strict.stdout + strict.stderr
    n = len(script["chat"])
    assert f"warning: {path}: chat[{n - 2}] is empty (no content and no tool calls)" in strict.stdout
    assert f"warning: {path}: chat[{n - 2}..{n - 1}]: 2 chat replies the lesson never asked for" in strict.stdout
    assert "search[1] ('never searched') was never searched" in strict.stdout
    assert "--strict: the script has the warnings above; nothing is replaced" in strict.stdout
    assert recording.read_bytes() == before
    loose = lessonkit("record", str(lesson), "--script", str(path), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert loose.returncode == 0 and "warning: " in loose.stdout and recording.read_bytes() != before


def test_doctor_names_answers_no_cell_uses_as_the_last_full_run_found_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    lesson = copy_lesson(tmp_path)
    shutil.copytree(ROOT / "notebooks" / "scripts", lesson.parent / "scripts")
    recording = lesson.parent / "recordings" / "00_quickstart.json"
    stored = json.loads(recording.read_text())
    stale = json.loads(json.dumps(next(i for i in stored["interactions"] if i["kind"] == "search")))
    stale["request"]["query"] = "a question the lesson no longer asks"
    stored["interactions"].append(stale)
    recording.write_text(json.dumps(stored))
    env = {"LESSONKIT_USAGE_DIR": str(tmp_path / "usage"), "OPENAI_API_KEY": ""}

    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def doctor() -> str:  # in this process (the subprocess's start-up is tested above): the line under the recording
        assert cli.doctor() == 0
        line = capsys.readouterr().out.split("notebooks/recordings/00_quickstart.json: ", 1)[1].splitlines()[1]
        assert line.startswith("    ")
        return line.strip()

    check = "run `python -m lessonkit run notebooks/00_quickstart.ipynb` to check"
    assert doctor() == f"usage unknown (no full replay run of 00_quickstart.ipynb yet): {check}"
    ran = lessonkit("run", "notebooks/00_quickstart.ipynb", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    unused = "1 unused answer of 5 (interactions[4]: search 'a question the lesson no longer asks') as of the last full run on "
    assert ran.stdout.splitlines()[1].startswith(f"  notebooks/recordings/00_quickstart.json: {unused}")  # under its report
    said = doctor()
    prune = ("python -m lessonkit record notebooks/00_quickstart.ipynb --missing-only "
             "--script notebooks/scripts/00_quickstart.json")
    assert said.startswith(unused) and said.endswith(f": run `{prune}` to prune it")
    pruned = lessonkit(*prune.split()[3:], cwd=tmp_path, env=env)  # the advice, as given, prunes (offline)
    assert pruned.returncode == 0 and "pruned 1 unused answer" in pruned.stdout, pruned.stdout + pruned.stderr
    said = doctor()
    assert said.startswith("usage unknown (the recording changed since the last full run on ") and said.endswith(check)
    assert lessonkit("run", "notebooks/00_quickstart.ipynb", cwd=tmp_path, env=env).returncode == 0
    assert doctor().startswith("all 4 answers used (last full run on ")
    notebook = nbformat.read(lesson, 4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("What is the weather in sf?", "What is the weather in Paris?")
    nbformat.write(notebook, lesson)
    failed = lessonkit("run", "notebooks/00_quickstart.ipynb", cwd=tmp_path, env=env)
    assert failed.returncode == 1 and "unused" not in failed.stdout and "answers used" not in failed.stdout
    assert doctor().startswith("usage unknown (the lesson's code changed since the last full run on ")  # a failed run claims nothing


def test_record_live_without_a_key_says_what_to_set(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    before = (lesson.parent / "recordings" / "00_quickstart.json").read_bytes()
    result = lessonkit("record", str(lesson), cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2
    assert "Recording live needs OPENAI_API_KEY" in result.stderr and "--script" in result.stderr
    assert (lesson.parent / "recordings" / "00_quickstart.json").read_bytes() == before


def test_failed_record_keeps_the_previous_recording(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    before = (lesson.parent / "recordings" / "00_quickstart.json").read_bytes()
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"chat": [{"content": "only one reply"}]}))
    result = lessonkit("record", str(lesson), "--script", str(short), cwd=tmp_path)
    assert result.returncode == 1
    assert "kept the previous recording" in result.stdout
    assert (lesson.parent / "recordings" / "00_quickstart.json").read_bytes() == before
