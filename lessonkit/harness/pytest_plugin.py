"""lessonkit's pytest plugin (entry point ``pytest11``), loaded by every pytest run where lessonkit is installed.

**Tests never go live.** Before any test or kernel starts, the run's environment is set to replay at speed 0
(``LESSONKIT_MODE=replay``, ``LESSONKIT_REPLAY_SPEED=0``) and the record-only settings are removed, so
``pytest --nbval notebooks/X.ipynb`` from any folder replays even with keys in the shell or in ``.env``
(python-dotenv never overrides a variable that is set). Nothing bills the instructor by accident.

**Postgres.** One mechanism for tests and lessons that need a PostgreSQL server (issue 11): a test marked
``@pytest.mark.postgres``, a test using the ``postgres_server`` fixture, and every cell of a lesson whose
notebook metadata says ``"lessonkit": {"requires": ["postgres"]}`` are **skipped** when this machine has no
PostgreSQL server binaries, with the reason and the one command that installs them; under ``CI`` (any non-empty
value, as the browser tests) they **fail** instead, so CI never passes without Postgres.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, MutableMapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from lessonkit import local_postgres
from lessonkit.harness.settings import apply_env, replay_only_env

MARKER = "postgres"
# nbval's lesson kernels (only they) get the usage folder setting; a lesson whose every cell passed records which
# recorded answers it used, for `python -m lessonkit doctor` (lessonkit/harness/usage.py, lessonkit/harness/usage_pytest.py).
pytest_plugins = ["lessonkit.harness.usage_pytest"]


def force_replay(environ: MutableMapping[str, str]) -> None:
    """The environment every test and lesson kernel of a pytest run inherits: replay, instant, nothing recorded."""
    apply_env(environ, replay_only_env())


def postgres_skip_or_fail() -> None:
    """Return when a Postgres server can be started here; else skip the test (fail it under CI), saying why."""
    why = local_postgres.missing_reason()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the Postgres tests and lessons must run in CI, but {why}", pytrace=False)
    pytest.skip(f"needs PostgreSQL: {why}")


@lru_cache(maxsize=64)
def notebook_requires(path: str) -> frozenset[str]:
    """What a lesson declares it needs (``metadata.lessonkit.requires``); empty for anything unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle).get("metadata", {}).get("lessonkit", {})
    except (OSError, ValueError, AttributeError):
        return frozenset()
    requires = meta.get("requires", []) if isinstance(meta, dict) else []
    return frozenset(str(r) for r in requires) if isinstance(requires, list) else frozenset()


SANITIZE_OPTION = "--nbval-sanitize-with"


def anchored_args(args: list[str], base: Path | None, cwd: Path) -> list[str]:
    """``args`` with a relative ``--nbval-sanitize-with FILE`` (from the project's addopts) made relative to the
    project (``base``, where pyproject.toml is) when it does not exist from ``cwd``: so a run from any folder works."""
    out = list(args)
    for i, arg in enumerate(out):
        value, prefix = None, ""
        if arg == SANITIZE_OPTION and i + 1 < len(out):
            value, i = out[i + 1], i + 1
        elif arg.startswith(SANITIZE_OPTION + "="):
            value, prefix = arg.split("=", 1)[1], SANITIZE_OPTION + "="
        if value and base is not None and not Path(value).is_absolute() and not (cwd / value).exists() \
                and (base / value).exists():
            out[i] = prefix + str(base / value)
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Before any conftest.py is imported, and so before any kernel or server can start."""
    force_replay(os.environ)
    inipath = early_config.inipath
    args[:] = anchored_args(args, inipath.parent if inipath else None, Path.cwd())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--lessonkit-record-mode", default="none", choices=("none", "once", "new_episodes", "all"),
                     help="how the lessonkit_cassette fixture treats each test's cassette (default: none, replay only)")


@pytest.fixture
def lessonkit_cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Lesson replaying (or recording) ``cassettes/<test name>.json`` beside the test file (lessonkit.cassettes)."""
    from lessonkit.cassettes import use_cassette

    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in request.node.name)
    path = Path(str(request.node.path)).parent / "cassettes" / f"{name}.json"
    with use_cassette(path, request.config.getoption("--lessonkit-record-mode")) as lesson:
        yield lesson


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: needs a PostgreSQL server (skipped without one, failed under CI)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    path = Path(str(item.path))
    needs = item.get_closest_marker(MARKER) is not None or (
        path.suffix == ".ipynb" and MARKER in notebook_requires(str(path)))
    if needs:
        postgres_skip_or_fail()
