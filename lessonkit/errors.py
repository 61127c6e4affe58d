"""Every error lessonkit raises on purpose: each message says what happened and what to do next."""
from __future__ import annotations


class LessonkitError(Exception):
    """Base class, so a lesson can catch everything lessonkit raises on purpose."""


class RecordingMissError(LessonkitError):
    """A request in replay mode that the recording does not hold (the lesson changed, or was never recorded)."""


class CorruptRecordingError(LessonkitError):
    """A recording file that cannot be read: not JSON, truncated, or missing a field."""


class MissingKeyError(LessonkitError):
    """Live or record mode without the API key that mode needs."""


class ModeError(LessonkitError):
    """An unknown mode, replay speed or record policy (lessonkit.harness.settings)."""


class CheckpointPathError(LessonkitError):
    """A checkpoint database path that cannot be used: missing folder, not writable, or not SQLite."""


class ThreadNotFoundError(LessonkitError, KeyError):
    """A thread id with no checkpoints; the message lists the threads that do exist (a typo is the usual cause)."""

    def __init__(self, thread_id: str, known_threads: list[str] | tuple[str, ...] = ()) -> None:
        self.thread_id = thread_id
        self.known_threads = list(known_threads)
        known = ", ".join(repr(t) for t in self.known_threads) or "none yet"
        super().__init__(
            f"thread {thread_id!r} has no checkpoints in this saver; known threads: {known}. "
            "Check the thread_id, or run the graph once with it first."
        )

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])

    def __reduce__(self):  # pickle with the real constructor arguments
        return (type(self), (self.thread_id, self.known_threads))


class RecordingNameError(LessonkitError):
    """A notebook whose ``lessonkit.start("NAME")`` does not match its file name (it would write another lesson's recording)."""


class RecordingNotCommittedError(LessonkitError):
    """A record-mode run that did not end well: its answers stay beside the recording, which is unchanged."""


class ThreadBusyError(LessonkitError, RuntimeError):
    """Another run is in progress on the same thread; running both would fork the conversation and drop a turn.

    ``holder_pid`` is the process holding the thread (None when the platform cannot tell).
    """

    def __init__(self, message: str, thread_id: str = "", holder_pid: int | None = None) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.holder_pid = holder_pid

    def __reduce__(self):  # pickle with the real constructor arguments
        return (type(self), (self.args[0], self.thread_id, self.holder_pid))


class ThreadIdError(LessonkitError, ValueError):
    """A thread id that cannot name a conversation: None, not a string, empty, too long, or with control characters."""


class DatabaseInUseError(LessonkitError):
    """A checkpoint database another process (or a run in this one) has open, so it cannot be wiped for fresh=True."""

    def __init__(self, message: str, path: str = "", holder_pid: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.holder_pid = holder_pid

    def __reduce__(self):
        return (type(self), (self.args[0], self.path, self.holder_pid))


class CorruptScriptError(LessonkitError):
    """An authoring script that cannot be used: not JSON, not UTF-8, a folder, or an entry of the wrong shape."""


class DatabaseUnavailableError(LessonkitError):
    """The checkpoint database went away mid-run (a Postgres restart, a dropped connection): the turn is not saved
    past its last checkpoint, every earlier one is kept, and the next turn works once the database is back."""
