"""lessonkit: teach and debug LangGraph persistence and streaming in Jupyter, offline or live."""
from .exercises import check, exercise
from .agent import COURSE_PROMPT, AgentState, LessonAgent, build_agent
from . import checkpoints
from .errors import (
    CheckpointPathError, CorruptRecordingError, LessonkitError, MissingKeyError, ModeError, RecordingMissError, ThreadNotFoundError,
    DatabaseInUseError, ThreadBusyError, ThreadIdError,
)
from .lesson import Lesson, start
from .harness.modes import Mode, active_mode

__version__ = "0.1.0"
__all__ = [
    "COURSE_PROMPT", "AgentState", "CheckpointPathError", "ThreadNotFoundError", "checkpoints", "CorruptRecordingError", "Lesson", "LessonAgent", "LessonkitError", "MissingKeyError",
    "Mode", "ModeError", "RecordingMissError", "active_mode", "build_agent", "check", "exercise", "start",
    "DatabaseInUseError", "ThreadBusyError", "ThreadIdError",
]
