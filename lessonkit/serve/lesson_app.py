"""The app ``lessonkit serve`` runs: the lesson agent, replayed from lesson 06's recording by default.

Kept apart from the factory so any graph can be served without the lesson machinery, and so the one
place that decides mode, recording and database is here.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from lessonkit import build_agent, checkpoints
from lessonkit.lesson import start
from lessonkit.modes import Mode

from .app import Resources, create_app_with
from .settings import ServeSettings

DATABASE_NAME = "serve.db"


def default_database() -> Path:
    """A per-user file, so students sharing a machine (or a class folder) never share threads."""
    return checkpoints.data_folder() / DATABASE_NAME


@dataclass(frozen=True)
class LessonServe:
    """What to serve: mode (None: as the lessons decide it), replay speed, database, approval step."""

    mode: Mode | None = None
    speed: float | None = None
    database: Path | None = None
    approve_tools: bool = False


def lesson_resources(options: LessonServe, settings: ServeSettings) -> Any:
    """An async context manager opening the lesson agent and its saver in the server's loop; closes the saver."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Resources]:
        lesson = start(settings.lesson, mode=options.mode, speed=options.speed,
                       recordings_dir=settings.recordings_dir, announce=False)
        database = Path(options.database or default_database())
        if not database.parent.exists() and str(database) != ":memory:":
            os.makedirs(database.parent, exist_ok=True)
        saver = await checkpoints.async_sqlite_saver(database)
        try:
            graph = build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=saver,
                                approve_tools=options.approve_tools)
            yield graph, saver
        finally:
            await checkpoints.close_saver(saver)

    return opened


def create_lesson_app(options: LessonServe | None = None, settings: ServeSettings | None = None) -> FastAPI:
    """The lesson agent's app (what ``lessonkit serve`` runs)."""
    options, settings = options or LessonServe(), settings or ServeSettings()
    info = {"lesson": settings.lesson, "mode": options.mode or "default", "database": str(options.database or default_database()),
            "approve_tools": options.approve_tools}
    return create_app_with(lesson_resources(options, settings), settings=settings, info=info)
