"""lessonkit: teach and debug LangGraph persistence and streaming in Jupyter, offline or live.

The names below load on first use (``support/lazy.py``), so a process that needs one corner of lessonkit (the pytest
plugin in every pytest run, ``python -m lessonkit``) does not import the whole model stack first.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .support.lazy import lazy_exports

if TYPE_CHECKING:
    from . import checkpoints
    from .agent import COURSE_PROMPT, AgentState, LessonAgent, build_agent
    from .errors import (
        CheckpointPathError, CorruptRecordingError, DatabaseInUseError, LessonkitError, MissingKeyError, ModeError,
        RecordingMissError, ThreadBusyError, ThreadIdError, ThreadNotFoundError,
    )
    from .exercises import check, exercise
    from .harness.modes import Mode, active_mode
    from .lesson import Lesson, start

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "check": ".exercises", "exercise": ".exercises",
    "COURSE_PROMPT": ".agent", "AgentState": ".agent", "LessonAgent": ".agent", "build_agent": ".agent",
    **dict.fromkeys((
        "CheckpointPathError", "CorruptRecordingError", "DatabaseInUseError", "LessonkitError", "MissingKeyError",
        "ModeError", "RecordingMissError", "ThreadBusyError", "ThreadIdError", "ThreadNotFoundError",
    ), ".errors"),
    "Lesson": ".lesson", "start": ".lesson",
    "Mode": ".harness.modes", "active_mode": ".harness.modes",
}
__all__ = [  # literal, for type checkers and linters; tests/test_start_up.py checks each resolves
    "COURSE_PROMPT", "AgentState", "CheckpointPathError", "CorruptRecordingError", "DatabaseInUseError", "Lesson",
    "LessonAgent", "LessonkitError", "MissingKeyError", "Mode", "ModeError", "RecordingMissError", "ThreadBusyError",
    "ThreadIdError", "ThreadNotFoundError", "active_mode", "build_agent", "check", "checkpoints", "exercise", "start",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), submodules=("checkpoints",))
