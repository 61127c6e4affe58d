"""The one mechanism for "no Postgres here" (lessonkit.harness.pytest_plugin): skip saying why and how to install, fail under CI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat

from lessonkit import local_postgres

TEST = '''
import pytest
from tests.postgres_server import postgres_server  # noqa: F401

def test_fixture(postgres_server):
    pass

@pytest.mark.postgres
def test_marked():
    pass
'''


def run_pytest(folder, env_extra, *args):
    env = {k: v for k, v in os.environ.items() if k != "CI"} | env_extra
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-p", "no:langsmith_plugin", "-p", "no:schemathesis", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)


def make_project(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "test_needs_pg.py").write_text(TEST)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="2\n")], execution_count=1)])
    nb.metadata["lessonkit"] = {"requires": ["postgres"]}
    nbformat.write(nb, tmp_path / "07_needs_pg.ipynb")
    return {"PYTHONPATH": root, "LESSONKIT_PG_BIN": str(tmp_path / "no-postgres-here")}


def test_without_postgres_tests_and_lesson_cells_skip_saying_the_install_command(tmp_path):
    env = make_project(tmp_path)
    done = run_pytest(tmp_path, env, "--nbval", "--nbval-current-env", ".")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 skipped" in done.stdout, done.stdout
    assert "needs PostgreSQL: no PostgreSQL server binaries" in done.stdout
    assert f"install them with: {local_postgres.INSTALL_COMMAND}" in done.stdout


def test_under_ci_a_missing_postgres_fails_the_run(tmp_path):
    env = make_project(tmp_path) | {"CI": "true"}
    done = run_pytest(tmp_path, env, "--nbval", "--nbval-current-env", ".")
    assert done.returncode == 1
    assert "3 failed" in done.stdout or "3 error" in done.stdout, done.stdout
    assert "must run in CI" in done.stdout


def test_a_lesson_without_the_requirement_runs(tmp_path):
    env = make_project(tmp_path)
    nb = json.loads((tmp_path / "07_needs_pg.ipynb").read_text())
    nb["metadata"]["lessonkit"] = {}
    (tmp_path / "07_needs_pg.ipynb").write_text(json.dumps(nb))
    done = run_pytest(tmp_path, env, "--nbval", "--nbval-current-env", "07_needs_pg.ipynb")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
