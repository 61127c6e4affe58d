"""The server's knobs, in one frozen dataclass: every route and the run manager read them from here.

Frozen, so a running server's behaviour cannot drift under a request; ``dataclasses.replace`` makes a
variant (the CLI and tests do). Validation happens once, at construction, with messages that say what
is allowed, instead of a bad value surfacing mid-stream as a confusing failure.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from lessonkit.runs import ENQUEUE_TIMEOUT_S, Multitask

OnDisconnect = Literal["cancel", "continue"]
LESSON_NAME = "06_serving_the_agent"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServeSettings:
    """How the server streams and runs: heartbeats, timeouts, and the per-request defaults.

    - ``heartbeat_s``: an idle SSE stream gets a ``: heartbeat`` comment this often, so proxies and load
      balancers keep it open while a tool or a queued run takes its time.
    - ``run_timeout_s``: a run still going after this long is stopped; its stream ends with an ``error``
      event ``timeout`` and ``[DONE]`` (the checkpoint saved before it stays).
    - ``multitask`` / ``enqueue_timeout_s``: what a run on a busy thread does when the request does not say
      (``reject``: 409; ``enqueue``: wait for its turn, at most ``enqueue_timeout_s``).
    - ``on_disconnect``: what a run does when its last client goes away (``cancel`` or ``continue``).
    - ``retain_finished_s``: how long a finished run's events stay available to ``Last-Event-ID`` rejoins.
    - ``recordings_dir`` / ``lesson``: where ``lessonkit serve`` finds the lesson agent's recording.
    """

    heartbeat_s: float = 15.0
    run_timeout_s: float = 300.0
    multitask: Multitask = "reject"
    enqueue_timeout_s: float = ENQUEUE_TIMEOUT_S
    on_disconnect: OnDisconnect = "cancel"
    retain_finished_s: float = 300.0
    max_thread_id_length: int = 128
    recordings_dir: Path = PROJECT_ROOT / "notebooks" / "recordings"
    lesson: str = LESSON_NAME
    service_name: str = "lessonkit-serve"

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "run_timeout_s", "enqueue_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"ServeSettings.{name} must be a number of seconds above 0, not {value!r}")
        if not self.retain_finished_s >= 0:
            raise ValueError(f"ServeSettings.retain_finished_s must be 0 or more seconds, not {self.retain_finished_s!r}")
        if self.multitask not in get_args(Multitask):
            raise ValueError(f"ServeSettings.multitask must be one of {get_args(Multitask)}, not {self.multitask!r}")
        if self.on_disconnect not in get_args(OnDisconnect):
            raise ValueError(f"ServeSettings.on_disconnect must be one of {get_args(OnDisconnect)}, not {self.on_disconnect!r}")
        if not 1 <= self.max_thread_id_length <= 200:
            raise ValueError("ServeSettings.max_thread_id_length must be between 1 and 200 (stored ids carry the user too)")
