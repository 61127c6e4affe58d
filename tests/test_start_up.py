"""What a process pays before it does anything: the suite starts a hundred-odd processes (issue 15).

These check which modules get imported, not seconds: a regression here costs every `python -m lessonkit`, every
pytest run (the plugin) and every nbval kernel start-up the same again (docs/benchmarks.md, section 4).
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("langchain_openai", "fastapi", "rfc3987_syntax")


def modules_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("what, code", [
    ("python -m lessonkit (every command's parser)", "from lessonkit.harness import cli; cli.main.__name__"),
    ("the pytest plugin every pytest run loads", "import lessonkit.harness.pytest_plugin"),
    ("import lessonkit", "import lessonkit"),
])
def test_the_model_stack_and_fastapi_load_only_when_used(what: str, code: str) -> None:
    loaded = modules_after(code)
    assert not loaded, f"{what} imports {sorted(loaded)} at start-up: import it where it is used (lessonkit/support/lazy.py)"


def test_nbformat_does_not_build_the_rfc3987_grammar() -> None:
    """jsonschema >= 4.25 pulls rfc3987-syntax into jupyter-events' format-nongpl extra: ~1.5 s per process."""
    assert "rfc3987_syntax" not in modules_after("import nbformat"), (
        "rfc3987-syntax is installed and imported by jsonschema: keep jsonschema at 4.24.x in requirements.txt "
        "(see its comment) and `pip uninstall rfc3987-syntax`")


def test_lessonkit_names_still_resolve_on_first_use() -> None:
    import lessonkit
    from lessonkit.persistence import runs

    assert lessonkit.start.__module__ == "lessonkit.lesson" and lessonkit.checkpoints.__name__ == "lessonkit.checkpoints"
    assert runs.guard.__module__ == "lessonkit.persistence.runs.guarded"
    assert set(lessonkit.__all__) == {*lessonkit._EXPORTS, "checkpoints"} and set(runs.__all__) == set(runs._EXPORTS)
    for name in lessonkit.__all__:
        assert getattr(lessonkit, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        lessonkit.nope  # noqa: B018
