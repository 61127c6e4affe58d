"""What the app holds while it runs (graph, saver, settings, runs, metrics), reachable from any route."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from .metrics import Metrics
from .run_manager import RunManager
from .settings import ServeSettings


@dataclass
class ServerState:
    graph: Any
    checkpointer: Any
    settings: ServeSettings
    manager: RunManager
    metrics: Metrics
    info: dict[str, Any] = field(default_factory=dict)  # what /info adds: mode, database, recording


def server(connection: HTTPConnection) -> ServerState:
    """The running app's state (set by the lifespan before the first request)."""
    return connection.app.state.lessonkit
