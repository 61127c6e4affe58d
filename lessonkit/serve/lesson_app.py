"""The app ``lessonkit serve`` runs: the lesson agent, replayed from lesson 06's recording by default.

Kept apart from the factory so any graph can be served without the lesson machinery, and so the one
place that decides mode, recording and database is here.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from lessonkit import build_agent, checkpoints
from lessonkit.lesson import start
from lessonkit.harness.modes import Mode
from lessonkit.harness.settings import VARIABLES, raw
from lessonkit.postgres import describe_url, is_postgres_url

from .app import Resources, create_app_with
from .settings import ServeSettings

DATABASE_NAME = "serve.db"
DATABASE_URL_VARIABLE = VARIABLES["database_url"]
Database = Path | str  # a SQLite file, or a postgresql:// URL


def default_database() -> Path:
    """A per-user file, so students sharing a machine (or a class folder) never share threads."""
    return checkpoints.data_folder() / DATABASE_NAME


def choose_database(given: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ) -> Database:
    """Where the threads live: ``--database`` (a file or a postgresql:// URL), else $LESSONKIT_DATABASE_URL, else the per-user file."""
    chosen = os.fspath(given) if given is not None else raw("database_url", environ) or ""
    if not chosen:
        return default_database()
    if is_postgres_url(chosen):
        describe_url(chosen)  # a malformed URL fails here, before anything binds
        return chosen
    if "://" in chosen:
        raise ValueError(f"{chosen.split('://', 1)[0]}:// is not a database lessonkit serve knows: give a SQLite file "
                         "path or a postgresql://USER:PASSWORD@HOST:PORT/DATABASE URL")
    return Path(chosen)


def describe_database(database: Database) -> str:
    """What a banner, /info or a log may say about the database: a file's path, or user@host:port/db (never a password)."""
    return describe_url(database) if isinstance(database, str) and is_postgres_url(database) else str(database)


@dataclass(frozen=True)
class LessonServe:
    """What to serve: mode (None: as the lessons decide it), replay speed, database, approval step."""

    mode: Mode | None = None
    speed: float | None = None
    database: Database | None = None  # None: $LESSONKIT_DATABASE_URL, else the per-user SQLite file
    approve_tools: bool = False


def lesson_resources(options: LessonServe, settings: ServeSettings) -> Any:
    """An async context manager opening the lesson agent and its saver in the server's loop; closes the saver."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Resources]:
        lesson = start(settings.lesson, mode=options.mode, speed=options.speed,
                       recordings_dir=settings.recordings_dir, announce=False)
        saver = await open_saver(choose_database(options.database))
        try:
            graph = build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=saver,
                                approve_tools=options.approve_tools)
            yield graph, saver
        finally:
            await checkpoints.close_saver(saver)

    return opened


async def open_saver(database: Database) -> Any:
    """The server's async saver: Postgres for a postgresql:// URL, else the SQLite file (its folder made if missing)."""
    if isinstance(database, str) and is_postgres_url(database):
        return await checkpoints.async_postgres_saver(database)
    database = Path(database)
    if not database.parent.exists() and str(database) != ":memory:":
        os.makedirs(database.parent, exist_ok=True)
    return await checkpoints.async_sqlite_saver(database)


def create_lesson_app(options: LessonServe | None = None, settings: ServeSettings | None = None) -> FastAPI:
    """The lesson agent's app (what ``lessonkit serve`` runs)."""
    options, settings = options or LessonServe(), settings or ServeSettings()
    info = {"lesson": settings.lesson, "mode": options.mode or "default", "database": describe_database(choose_database(options.database)),
            "approve_tools": options.approve_tools}
    return create_app_with(lesson_resources(options, settings), settings=settings, info=info)
