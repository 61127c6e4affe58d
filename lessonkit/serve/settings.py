"""The server's knobs, in one frozen dataclass: every route and the run manager read them from here.

Frozen, so a running server's behaviour cannot drift under a request; ``dataclasses.replace`` makes a
variant (the CLI and tests do). Validation happens once, at construction, with messages that say what
is allowed, instead of a bad value surfacing mid-stream as a confusing failure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from lessonkit.persistence.runs.decisions import ENQUEUE_TIMEOUT_S, Multitask

if TYPE_CHECKING:
    from .auth import TokenTable

OnDisconnect = Literal["cancel", "continue"]
LESSON_NAME = "06_serving_the_agent"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


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
    - ``tokens``: who may call (``auth.TokenTable`` from ``--tokens``); None: every caller is the one
      local user, and ``lessonkit serve`` listens on loopback only. Never shown by ``repr``.
    - ``max_message_chars``: a longer ``message`` is a 422 (the manual's 10,000 characters).
    - ``max_streams``: open streams (SSE responses and WebSockets) at once; one more is a 503 with
      ``Retry-After: retry_after_s``.
    - ``max_body_bytes``: a larger request body is a 413 before any of it is parsed.
    - ``cors_origins``: browser origins allowed to call (``https://host[:port]``, or ``*``); empty: no CORS.
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
    tokens: TokenTable | None = field(default=None, repr=False, compare=False)
    max_message_chars: int = 10_000
    max_streams: int = 100
    retry_after_s: int = 5
    max_body_bytes: int = 256 * 1024
    cors_origins: tuple[str, ...] = ()

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
        for name in ("max_message_chars", "max_streams", "retry_after_s", "max_body_bytes"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"ServeSettings.{name} must be a whole number of at least 1, not {value!r}")
        if self.max_body_bytes < 8 * self.max_message_chars:
            raise ValueError(f"ServeSettings.max_body_bytes ({self.max_body_bytes}) must be at least 8 × max_message_chars "
                             f"({8 * self.max_message_chars}): a message's JSON may take 6 bytes a character, plus the other fields")
        if isinstance(self.cors_origins, list):
            object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if isinstance(self.cors_origins, str):
            raise ValueError("ServeSettings.cors_origins is a tuple of origins, e.g. ('http://localhost:3000',), not one string")  # noqa: TRY004
        for origin in self.cors_origins:
            if origin != "*" and not _ORIGIN.fullmatch(str(origin)):
                raise ValueError(f"ServeSettings.cors_origins: {origin!r} is not an origin: write scheme://host[:port] with "
                                 "no path or trailing slash (e.g. http://localhost:3000), or '*' for any")
        if self.tokens is not None and not hasattr(self.tokens, "user_for"):
            raise ValueError("ServeSettings.tokens must be a lessonkit.serve.auth.TokenTable (see auth.parse_tokens / load_tokens)")
        if not 1 <= self.max_thread_id_length <= 200:
            raise ValueError("ServeSettings.max_thread_id_length must be between 1 and 200 (stored ids carry the user too)")
