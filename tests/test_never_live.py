"""Tests never go live (issue 12, point 1): lessonkit's pytest plugin forces replay at speed 0 for every pytest
run, so ``pytest --nbval notebooks/X.ipynb`` from another folder, with keys in the shell and in ``.env`` and an
upstream that would answer, sends it nothing."""
from __future__ import annotations

import os
import subprocess
import sys

from lessonkit.harness.pytest_plugin import force_replay
from tests.conftest import ROOT
from tests.openai_server import LocalServer


def test_force_replay_sets_replay_at_speed_0_and_drops_record_settings():
    env = {"LESSONKIT_MODE": "record", "LESSONKIT_REPLAY_SPEED": "1", "LESSONKIT_SCRIPT": "s.json",
           "LESSONKIT_RECORD_POLICY": "all", "OPENAI_API_KEY": "kept"}
    force_replay(env)
    assert env == {"LESSONKIT_MODE": "replay", "LESSONKIT_REPLAY_SPEED": "0", "OPENAI_API_KEY": "kept"}


def test_a_single_lesson_run_from_anywhere_with_keys_sends_nothing_upstream(server: LocalServer, fake_key: str, tmp_path):
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={fake_key}\nTAVILY_API_KEY=tvly-{fake_key}\nLESSONKIT_MODE=live\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONKIT_")}
    env |= {"OPENAI_API_KEY": fake_key, "OPENAI_BASE_URL": server.url, "TAVILY_API_KEY": "tvly-" + fake_key,
            "LESSONKIT_MODE": "live", "LESSONKIT_REPLAY_SPEED": "1",
            "LESSONKIT_DATA_DIR": str(tmp_path / "data")}  # not the databases nbval's run of lesson 00 uses
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                           str(ROOT / "notebooks" / "00_quickstart.ipynb")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert server.seen == []  # not one request reached the upstream


def test_the_sanitizer_path_is_found_from_any_folder(tmp_path):
    from lessonkit.harness.pytest_plugin import anchored_args
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "sanitize.cfg").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ["--nbval", "--nbval-sanitize-with", "notebooks/sanitize.cfg", "x.ipynb"]
    assert anchored_args(args, tmp_path, elsewhere)[2] == str(tmp_path / "notebooks" / "sanitize.cfg")
    assert anchored_args(args, tmp_path, tmp_path) == args  # found from here: left alone
    assert anchored_args(["--nbval-sanitize-with=notebooks/sanitize.cfg"], tmp_path, elsewhere) == [
        f"--nbval-sanitize-with={tmp_path / 'notebooks' / 'sanitize.cfg'}"]
