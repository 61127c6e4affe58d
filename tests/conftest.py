"""Test-wide settings: the suite always runs in replay, whatever keys this machine has."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

# Set before any kernel starts, so the lesson notebooks under nbval inherit it too; python-dotenv
# never overrides a variable that is already set, so a developer's .env cannot switch this off.
os.environ["LESSONKIT_MODE"] = "replay"
os.environ["LESSONKIT_REPLAY_SPEED"] = "0"
os.environ.pop("LESSONKIT_SCRIPT", None)
os.environ.pop("LESSONKIT_RECORD_POLICY", None)

from tests.openai_server import LocalServer, echo_responder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


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
