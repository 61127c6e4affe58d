"""Integrity: lessonkit deletes only its own files, record mode in a kernel never destroys a recording,
one name decides the recording, arguments are checked where they enter, shared and read-only installs work.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.errors import CheckpointPathError, ModeError, RecordingNameError, RecordingNotCommittedError
from lessonkit.harness.execute import execute_notebook
from lessonkit.support.files import atomic_write_text
from lessonkit.harness.modes import active_mode, replay_speed
from lessonkit.harness.recording.session import discard_all, final_errors, journal_path, merged
from tests.openai_server import LocalServer, echo_responder
from tests.test_cli import copy_lesson, lessonkit as run_cli
from tests.test_errors import authored_lesson

SETPRIV = shutil.which("setpriv")
# root reads and writes anything; without these two capabilities it meets file permissions like anyone else.
AS_ORDINARY_USER = [SETPRIV or "setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
needs_permissions = pytest.mark.skipif(os.geteuid() == 0 and SETPRIV is None, reason="as root, needs setpriv (util-linux) to honour file permissions")


@pytest.fixture(autouse=True)
def no_pending_recordings_left() -> Any:
    """Record-mode cassettes opened here are not committed when pytest exits."""
    yield
    discard_all()


# ---------------------------------------------------------------- 1. deleting only what is ours

def checkpoint_db(path: Path) -> None:
    saver = checkpoints.sqlite_saver(path)
    graph = lessonkit.build_agent(lessonkit.start("x", mode="replay", recordings_dir=path.parent, announce=False).chat_model(), [], checkpointer=saver)
    saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, {"v": 1, "id": "1", "ts": "", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}, {}, {})
    checkpoints.close_sync_saver(saver)
    del graph


def other_app_db(path: Path, *tables: str) -> None:
    conn = sqlite3.connect(path)
    for table in tables:
        conn.execute(f"CREATE TABLE {table} (x)")
        conn.execute(f"INSERT INTO {table} VALUES (1)")
    conn.commit()
    conn.close()


FOREIGN = {
    "a notebook": (lambda p: nbformat.write(nbformat.v4.new_notebook(), p), "it is not a SQLite database"),
    "a text file": (lambda p: p.write_text("my notes\n"), "it is not a SQLite database"),
    "another application's database": (lambda p: other_app_db(p, "users"), "without LangGraph's checkpoint tables"),
    "a checkpoint database with other tables": (lambda p: other_app_db(p, "checkpoints", "writes", "grades"), "other tables (grades)"),
}


@pytest.mark.parametrize("what", sorted(FOREIGN))
@pytest.mark.parametrize("opener", ["sync", "async"])
def test_fresh_refuses_to_delete_what_is_not_a_checkpoint_database(tmp_path: Path, what: str, opener: str) -> None:
    make, reason = FOREIGN[what]
    path = tmp_path / "lesson.db"
    make(path)
    side = tmp_path / "lesson.db-wal"
    side.write_bytes(b"not ours either")
    before = path.read_bytes(), side.read_bytes()
    with pytest.raises(CheckpointPathError) as caught:
        if opener == "sync":
            checkpoints.sqlite_saver(path, fresh=True)
        else:
            import asyncio
            asyncio.run(checkpoints.async_sqlite_saver(path, fresh=True))
    message = str(caught.value)
    assert reason in message and "fresh=True only replaces a LangGraph checkpoint database" in message
    assert "pick another file name" in message
    assert (path.read_bytes(), side.read_bytes()) == before


def test_fresh_replaces_a_checkpoint_database_and_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "lesson.db"
    checkpoint_db(path)
    assert checkpoints.list_threads(checkpoints.sqlite_saver(path)) == ["t"]
    assert checkpoints.list_threads(checkpoints.sqlite_saver(path, fresh=True)) == []
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert checkpoints.list_threads(checkpoints.sqlite_saver(empty, fresh=True)) == []


def test_fresh_never_wipes_a_database_another_kernel_has_open(tmp_path: Path) -> None:
    """Two kernels of one user on one lesson: the second's fresh=True is refused, naming the first."""
    path = tmp_path / "lesson.db"
    checkpoint_db(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from lessonkit import checkpoints\n"
         "saver = checkpoints.sqlite_saver(sys.argv[1]); print('open', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(lessonkit.DatabaseInUseError) as caught:
            checkpoints.sqlite_saver(path, fresh=True)
        assert str(holder.pid) in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    assert checkpoints.list_threads(checkpoints.sqlite_saver(path)) == ["t"]  # nothing was lost
    assert checkpoints.list_threads(checkpoints.sqlite_saver(path, fresh=True)) == []  # and once it is gone, fresh works


def test_fresh_never_wipes_a_database_a_plain_sqlite_saver_has_open(tmp_path: Path) -> None:
    """The course's own code (a plain SqliteSaver, no lessonkit lock) in another kernel: SQLite itself says so."""
    path = tmp_path / "lesson.db"
    checkpoint_db(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\nfrom langgraph.checkpoint.sqlite import SqliteSaver\n"
         "saver = SqliteSaver(sqlite3.connect(sys.argv[1], check_same_thread=False)); saver.setup()\n"
         "print('open', flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(lessonkit.DatabaseInUseError, match="another connection has it open"):
            checkpoints.sqlite_saver(path, fresh=True)
    finally:
        holder.kill()
        holder.wait()
    assert checkpoints.list_threads(checkpoints.sqlite_saver(path)) == ["t"]


def test_fresh_after_analyze_still_knows_its_own_database(tmp_path: Path) -> None:
    path = tmp_path / "lesson.db"
    checkpoint_db(path)
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    assert checkpoints.foreign_reason(path) is None


def test_remove_database_is_guarded_too(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("keep me")
    with pytest.raises(CheckpointPathError, match="will not delete"):
        checkpoints.remove_database(notes)
    assert notes.read_text() == "keep me"


def test_a_folder_someone_else_owns_gets_per_user_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class folder owned by the instructor: each student's databases go to their own data folder."""
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the folder to another user")
    shared = tmp_path / "class" / "notebooks"
    shared.mkdir(parents=True)
    os.chown(shared, 65534, 65534)  # nobody's folder, writable by all: like a class folder
    shared.chmod(0o777)
    monkeypatch.chdir(shared)
    monkeypatch.delenv("LESSONKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "student-data"))
    placed = Path(checkpoints.database_path("01_persistence_and_threads.db"))
    assert placed.parent.parent == tmp_path / "student-data" / "lessonkit"
    assert placed.parent.name.startswith("notebooks-")
    saver = checkpoints.sqlite_saver("01_persistence_and_threads.db", fresh=True)
    assert placed.exists() and not (shared / "01_persistence_and_threads.db").exists()
    checkpoints.close_sync_saver(saver)
    with pytest.raises(CheckpointPathError, match="does not exist"):  # a missing folder is said, not moved
        checkpoints.sqlite_saver("no_such_folder/x.db")
    monkeypatch.setenv("LESSONKIT_DATA_DIR", str(tmp_path / "chosen"))
    assert checkpoints.database_path("a.db") == str(tmp_path / "chosen" / "a.db")
    assert checkpoints.database_path(str(tmp_path / "abs.db")) == str(tmp_path / "abs.db")  # absolute paths as given


# ---------------------------------------------------------------- 3. record mode in a running kernel

def start_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: LocalServer, key: str) -> lessonkit.Lesson:
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("LESSONKIT_RECORD_POLICY", raising=False)
    return lessonkit.start("lesson_x", mode="record", recordings_dir=tmp_path / "recordings", announce=False)


def failing_server(*statuses: int) -> LocalServer:
    """Answers each request with the next status (an error body), then echoes once they run out."""
    queue = list(statuses)

    def respond(path: str, body: dict[str, Any]) -> Any:
        if queue:
            status = queue.pop(0)
            return status, "application/json", [json.dumps({"error": {"message": f"upstream said {status}", "type": "x", "code": None}}).encode()]
        return echo_responder(path, body)
    return LocalServer(respond)


@pytest.mark.parametrize("status", [401, 429, 500])
def test_an_upstream_error_on_every_retry_never_replaces_the_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_key: str, status: int) -> None:
    path = authored_lesson(tmp_path)
    before = path.read_bytes()
    server = failing_server(*[status] * 10)
    try:
        lesson = start_record(tmp_path, monkeypatch, server, fake_key)
        with pytest.raises(Exception):
            lesson.chat_model(max_retries=1).invoke([HumanMessage("Hi there")])
        with pytest.raises(RecordingNotCommittedError) as caught:
            lesson.save_recording()
    finally:
        server.stop()
    message = str(caught.value)
    assert f"the last answer to a model request was HTTP {status}" in message and "The recording is unchanged" in message
    assert path.read_bytes() == before
    assert journal_path(path).exists()  # this run's answers wait beside it


def test_a_retry_that_succeeds_is_kept_and_other_answers_survive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_key: str) -> None:
    path = authored_lesson(tmp_path)
    server = failing_server(429)
    try:
        lesson = start_record(tmp_path, monkeypatch, server, fake_key)
        assert lesson.chat_model(max_retries=2).invoke([HumanMessage("Hi there")]).content == "You said: Hi there"
        assert lesson.save_recording().startswith("saved ")
    finally:
        server.stop()
    stored = json.loads(path.read_text())["interactions"]
    statuses = [i["response"]["status"] for i in stored]
    assert statuses.count(429) == 1 and statuses.count(200) == 2  # the retry, its success, and the untouched answer
    asked = [i["request"]["messages"][-1]["content"] for i in stored]
    assert "What is the weather in sf?" in asked  # a request this run did not ask is kept (merge)
    assert not journal_path(path).exists()


def test_an_earlier_runs_journal_is_kept_not_truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_key: str) -> None:
    """The refused run's answers (paid for) survive the next record-mode start, renamed beside the recording."""
    path = authored_lesson(tmp_path)
    server = failing_server(*[401] * 10)
    try:
        lesson = start_record(tmp_path, monkeypatch, server, fake_key)
        with pytest.raises(Exception):
            lesson.chat_model(max_retries=0).invoke([HumanMessage("Hi there")])
        with pytest.raises(RecordingNotCommittedError):
            lesson.save_recording()
    finally:
        server.stop()
    journal = journal_path(path).read_bytes()
    discard_all()  # a new kernel
    again = start_record(tmp_path, monkeypatch, LocalServer(echo_responder), fake_key)
    kept = again.cassette.kept_journal  # type: ignore[attr-defined]
    assert kept is not None and kept.read_bytes() == journal and b"upstream said 401" in journal
    assert "an earlier run's unsaved answers are kept in" in again.banner()


def test_answers_recorded_after_a_save_go_in_at_the_next_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_key: str) -> None:
    path = authored_lesson(tmp_path)
    server = LocalServer(echo_responder)
    try:
        lesson = start_record(tmp_path, monkeypatch, server, fake_key)
        model = lesson.chat_model()
        model.invoke([HumanMessage("q1")])
        lesson.save_recording()
        model.invoke([HumanMessage("q2")])
        assert lesson.save_recording().startswith("saved ")
    finally:
        server.stop()
    asked = [i["request"]["messages"][-1]["content"] for i in json.loads(path.read_text())["interactions"]]
    assert "q1" in asked and "q2" in asked and "What is the weather in sf?" in asked


def run_record_kernel(tmp_path: Path, cells: list[str], server: LocalServer, key: str, recordings: Path) -> Any:
    """Run these cells as lesson_x.ipynb in a real kernel in record mode against ``server``; stop the server."""
    nb = tmp_path / "lesson_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), nb)
    try:
        return execute_notebook(nb, {
            "LESSONKIT_MODE": "record", "OPENAI_API_KEY": key, "OPENAI_BASE_URL": server.url,
            "LESSONKIT_RECORDINGS_DIR": str(recordings), "LESSONKIT_RECORD_POLICY": None,
        })
    finally:
        server.stop()


def test_a_kernel_shutting_down_after_an_outage_keeps_the_recording(tmp_path: Path, fake_key: str) -> None:
    """The real thing: a Jupyter kernel in record mode, every call answered 401, then shut down."""
    path = authored_lesson(tmp_path)
    before = path.read_bytes()
    server = failing_server(*[401] * 10)
    cells = [
        "import lessonkit\nfrom langchain_core.messages import HumanMessage\nlesson = lessonkit.start('lesson_x')",
        "try:\n    lesson.chat_model(max_retries=0).invoke([HumanMessage('Hi there')])\nexcept Exception as err:\n    print(type(err).__name__)",
    ]
    report = run_record_kernel(tmp_path, cells, server, fake_key, path.parent)
    assert report.ok, report.error
    assert path.read_bytes() == before


def test_a_kernel_run_that_ends_well_replaces_the_recording_at_shutdown(tmp_path: Path, fake_key: str) -> None:
    path = authored_lesson(tmp_path)
    server = LocalServer(echo_responder)
    cells = [
        "import lessonkit\nfrom langchain_core.messages import HumanMessage\nlesson = lessonkit.start('lesson_x')",
        "print(lesson.chat_model().invoke([HumanMessage('Hi there')]).content)",
    ]
    report = run_record_kernel(tmp_path, cells, server, fake_key, path.parent)
    assert report.ok, report.error
    stored = json.loads(path.read_text())["interactions"]
    assert [i["origin"] for i in stored] == ["authored", "live"]  # sf kept, "Hi there" re-recorded live
    assert not journal_path(path).exists()


def test_decisions_about_committing_are_pure() -> None:
    def chat(text: str, status: int) -> dict[str, Any]:
        return {"kind": "chat", "request": {"messages": [{"role": "user", "content": text}]}, "response": {"status": status}}
    assert final_errors([chat("a", 429), chat("a", 200)]) == []
    assert final_errors([chat("a", 200), chat("b", 401)]) == [chat("b", 401)]
    assert merged([chat("a", 200), chat("b", 200)], [chat("b", 200)]) == [chat("a", 200), chat("b", 200)]


# ---------------------------------------------------------------- 4. one name decides the recording

@pytest.mark.parametrize("variable, value", [("LESSONKIT_NOTEBOOK", "my_copy.ipynb"), ("JPY_SESSION_NAME", "notebooks/my_copy.ipynb")])
def test_record_mode_in_a_copied_notebook_is_refused_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    path = authored_lesson(tmp_path)
    before = path.read_bytes()
    monkeypatch.delenv("LESSONKIT_NOTEBOOK", raising=False)
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    with pytest.raises(RecordingNameError) as caught:
        lessonkit.start("lesson_x", mode="record", recordings_dir=path.parent)
    message = str(caught.value)
    assert "calls lessonkit.start('lesson_x'), but the notebook is named 'my_copy'" in message
    assert path.read_bytes() == before and not journal_path(path).exists()


# ---------------------------------------------------------------- 7. arguments checked where they enter

@pytest.mark.parametrize("mode, hint", [("Replay", "Did you mean 'replay'?"), ("REPLAY", "Did you mean 'replay'?"),
                                        ("reply", "Did you mean 'replay'?"), ("recrod", "Did you mean 'record'?"), (None, "")])
def test_a_mistyped_mode_is_an_error_never_record_or_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str | None, hint: str) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "would-be-spent")
    if mode is None:  # None is "unset": the default applies
        monkeypatch.delenv("LESSONKIT_MODE")
        assert lessonkit.start("x", mode=None, recordings_dir=tmp_path, announce=False).mode == "live"
        return
    with pytest.raises(ModeError) as caught:
        lessonkit.start("x", mode=mode, recordings_dir=tmp_path, announce=False)  # type: ignore[arg-type]
    assert "use one of: replay, live, record" in str(caught.value) and hint in str(caught.value)
    with pytest.raises(ModeError):
        lessonkit.Lesson("x", mode, 0.0, lessonkit.harness.recording.Cassette(tmp_path / "x.json"))  # type: ignore[arg-type]
    with pytest.raises(ModeError):
        active_mode({"LESSONKIT_MODE": mode})
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("value, expected", [("", 0.0), ("  ", 0.0), ("1", 1.0), (" 0.5 ", 0.5)])
def test_an_empty_replay_speed_means_the_default(value: str, expected: float) -> None:
    assert replay_speed({"LESSONKIT_REPLAY_SPEED": value}) == expected


@pytest.mark.parametrize("value", ["fast", "nan", "-0.1", "1.5"])
def test_a_bad_replay_speed_says_the_range(value: str) -> None:
    with pytest.raises(ModeError, match="0 \\(instant\\) to 1"):
        replay_speed({"LESSONKIT_REPLAY_SPEED": value})


def test_a_bad_record_policy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSONKIT_RECORD_POLICY", "everything")
    with pytest.raises(ModeError, match="use all or missing"):
        lessonkit.start("x", mode="record", recordings_dir=tmp_path, announce=False)


# ---------------------------------------------------------------- 9. shared and read-only installs

@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664)])
def test_written_files_follow_the_umask_not_0600(tmp_path: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        path = authored_lesson(tmp_path)  # a recording, written through storage.save_document
        atomic_write_text(tmp_path / "note.ipynb", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "note.ipynb").stat().st_mode) == expected


def test_replacing_a_linked_file_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_replacing_a_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


@needs_permissions
def test_an_unreadable_env_file_warns_and_replay_still_works(tmp_path: Path) -> None:
    path = authored_lesson(tmp_path)
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-should-not-be-read\n")
    env_file.chmod(0)
    code = textwrap.dedent(f"""
        import lessonkit
        from langchain_core.messages import HumanMessage
        lesson = lessonkit.start("lesson_x", recordings_dir={str(path.parent)!r})
        print(lesson.chat_model().invoke([HumanMessage("Hi there")]).content)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("LESSONKIT_MODE", "OPENAI_API_KEY")}
    result = subprocess.run([*AS_ORDINARY_USER, sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"lessonkit: cannot read {env_file} (Permission denied); its settings are ignored" in result.stderr
    assert "replay mode" in result.stdout and "Hello! How can I help?" in result.stdout


@needs_permissions
def test_a_read_only_checkout_runs_in_replay_with_databases_in_the_data_folder(tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    lesson = copy_lesson(tmp_path / "checkout")
    home = tmp_path / "home"
    home.mkdir()
    for folder, _, files in os.walk(tmp_path / "checkout"):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LESSONKIT_DATA_DIR", "XDG_"))}
    env.update(HOME=str(home), LESSONKIT_MODE="replay", JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"))
    try:
        result = subprocess.run([*AS_ORDINARY_USER, sys.executable, "-m", "lessonkit", "run", str(lesson)],
                                cwd=tmp_path / "checkout", capture_output=True, text=True, env=env, timeout=300)
    finally:
        for folder, _, _ in os.walk(tmp_path / "checkout"):
            os.chmod(folder, 0o755)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "00_quickstart.ipynb: ok" in result.stdout
    databases = list((home / ".local" / "share" / "lessonkit").glob("notebooks-*/00_quickstart.db"))
    assert len(databases) == 1 and not (lesson.parent / "00_quickstart.db").exists()


# ---------------------------------------------------------------- 8. doctor reports bad files and goes on

def test_doctor_never_crashes_on_bad_recordings(tmp_path: Path) -> None:
    lesson = copy_lesson(tmp_path)
    recordings = lesson.parent / "recordings"
    (recordings / "truncated.json").write_bytes((recordings / "00_quickstart.json").read_bytes()[:300])
    (recordings / "latin1.json").write_bytes(b'{"format": "lessonkit-recording/1", "note": "caf\xe9"}')
    (recordings / "a_folder.json").mkdir()
    (recordings / "future.json").write_text(json.dumps({"format": "lessonkit-recording/9", "interactions": []}))
    result = run_cli("doctor", cwd=tmp_path, env={"LESSONKIT_RECORDINGS_DIR": ""})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "notebooks/recordings/00_quickstart.json: 3 model responses" in out  # the good one is still reported
    for name, says in [("truncated", "ends early"), ("latin1", "UTF-8"), ("a_folder", "folder"), ("future", "newer lessonkit")]:
        line = next(line for line in out.splitlines() if f"{name}.json" in line)
        assert "UNREADABLE" in line and says in line, line
    assert "Traceback" not in out + result.stderr


def test_replay_speed_defaults_to_1_in_a_jupyter_front_end_and_0_elsewhere() -> None:
    assert replay_speed({}, front_end=True) == 1.0  # a class watching JupyterLab
    assert replay_speed({"CI": "true"}, front_end=True) == 0.0
    assert replay_speed({}, front_end=False) == 0.0  # a script
    assert replay_speed({"LESSONKIT_REPLAY_SPEED": "0"}, front_end=True) == 0.0  # pytest, lessonkit run and record set it
    assert replay_speed({"LESSONKIT_REPLAY_SPEED": ""}, front_end=True) == 1.0  # .env.example's empty entry
