"""Test-wide settings: the suite always runs in replay, whatever keys this machine has."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import pytest

# Replay at speed 0 is forced for every pytest run by lessonkit's own pytest plugin (lessonkit/harness/pytest_plugin.py,
# an installed entry point), so a single notebook run from any folder cannot go live either. Checked here too.
assert os.environ.get("LESSONKIT_MODE") == "replay", "lessonkit's pytest plugin did not load: pip install -e ."

from tests import forked_kernels, scheduling  # noqa: E402
from tests.openai_server import LocalServer, echo_responder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


FORK_SERVER = pytest.StashKey[contextlib.ExitStack]()


def pytest_configure(config: pytest.Config) -> None:
    """Kernels fork from one warm process (tests/forked_kernels): the outermost pytest starts it, every one uses it."""
    stack = config.stash[FORK_SERVER] = contextlib.ExitStack()
    if forked_kernels.wanted():
        stack.enter_context(forked_kernels.running())
    if forked_kernels.SOCKET_VARIABLE in os.environ:
        forked_kernels.use_in_nbval()


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash[FORK_SERVER].close()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadscope`` (pyproject.toml) with our units: a lesson or a server module whole, else each test alone."""
    if config.getvalue("dist") != "loadscope":
        return None
    return scheduling.scheduler_class()(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest units first (tests/durations.json), so the workers finish together; see tests/scheduling.py."""
    items[:] = scheduling.longest_first(items, scheduling.read_durations())


@pytest.fixture(autouse=True)
def usage_ledgers_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' own lesson runs (copies in temporary folders) keep their usage ledgers out of the user's cache."""
    monkeypatch.setenv("LESSONKIT_USAGE_DIR", str(tmp_path_factory.getbasetemp() / "usage-ledgers"))


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local OpenAI-compatible server on 127.0.0.1; stopped after the test."""
    srv = LocalServer(echo_responder)
    yield srv
    srv.stop()


@pytest.fixture
def fake_key() -> str:
    """A key-shaped secret built at run time (so no key-like text sits in the repository)."""
    return "sk-" + "proj-" + "lessonkitTEST" * 3
