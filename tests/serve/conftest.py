"""A real uvicorn on 127.0.0.1 (a free port), in a background thread of the test process, per module.

In-process so tests can hold a fake model's gate (tests/serve/fakes.py) while talking HTTP and
WebSocket to the server like any client. Every wait is a bounded loop.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from lessonkit.serve.background import STARTUP_LIMIT_S, background


@dataclass
class Served:
    url: str
    ws_url: str
    server: uvicorn.Server

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=httpx.Timeout(30.0), **kwargs)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[Served]:
    """Run ``app`` on a free loopback port until the block ends; the lifespan runs at both ends."""
    with background(app, startup_limit_s=STARTUP_LIMIT_S) as running:
        yield Served(running.url, running.ws_url, running.server)


@contextlib.contextmanager
def lesson_served(folder: Path, database: Path, *, approve_tools: bool = False) -> Iterator[Served]:
    """The lesson agent served in replay at speed 0 from the test recording (authored into ``folder``)."""
    from lessonkit.serve.lesson_app import LessonServe, create_lesson_app
    from lessonkit.serve.settings import ServeSettings
    from tests.serve.lesson_recording import record

    app = create_lesson_app(LessonServe(mode="replay", speed=0, database=database, approve_tools=approve_tools),
                            ServeSettings(recordings_dir=record(folder)))
    with serve(app) as running:
        yield running


def wait_until(predicate: Any, what: str, limit_s: float = 20.0) -> None:
    """Poll ``predicate`` (bounded); fail naming ``what`` if it never holds."""
    for _ in range(int(limit_s / 0.005)):
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
