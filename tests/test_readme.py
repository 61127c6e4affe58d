"""The README stays true: CI runs its exact test command, and the lessons it lists exist."""
from __future__ import annotations

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    lab, tests = commands
    assert "jupyterlab" in lab and "pytest" in tests
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_quick_start_installs_into_and_runs_from_a_virtual_environment() -> None:
    """A Python that refuses `pip install` (Debian's, PEP 668) still works, and root still gets JupyterLab."""
    lab, tests = quick_start_commands()
    for command in (lab, tests):
        make, *steps = command.split(" && ")
        assert make == "python3 -m venv .venv" and steps[0] == ".venv/bin/python -m pip install -q -r requirements.txt"
        assert all(step.startswith(".venv/bin/python -m ") for step in steps), command  # nothing from PATH
    assert lab.endswith(" -m jupyterlab --allow-root notebooks/")  # not `-m jupyter lab`: a jupyter-lab on PATH
    assert tests.endswith(" -m pytest")
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_ci_runs_the_test_command_with_debians_own_python_where_there_is_one() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    before = ci[:ci.index(quick_start_commands()[1])]
    assert 'export PATH="/usr/bin:$PATH"' in before and "/usr/bin/python3 -c" in before


def test_every_lesson_is_listed_and_every_listed_lesson_exists() -> None:
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    listed = re.findall(r"^\| `(\d\d_\w+)` \|", README, flags=re.M)
    assert listed == notebooks


def test_env_example_names_every_setting_and_env_is_ignored() -> None:
    example = (ROOT / ".env.example").read_text()
    for name in ("OPENAI_API_KEY", "TAVILY_API_KEY", "LESSONKIT_MODE"):
        assert re.search(rf"^{name}=$", example, flags=re.M), name
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
