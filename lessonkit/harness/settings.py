"""Every LESSONKIT_* setting, read in one place: the CLI writes them for the kernels it starts, the kernel reads them.

The variable names are spelled here only (``VARIABLES``). ``Settings.from_env`` validates as it reads (a
mistyped mode or speed fails with the clear error, never falls through to record or live); ``to_env`` gives
the variables back for a child process (None: unset it there).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, MutableMapping, cast

from ..errors import ModeError
from .modes import Mode, parse_mode, replay_speed
from .recording.recorder import RecordMode, record_mode

RecordPolicy = Literal["all", "missing"]  # None: record mode in a kernel, merged into the recording
VARIABLES: dict[str, str] = {
    "mode": "LESSONKIT_MODE",
    "replay_speed": "LESSONKIT_REPLAY_SPEED",
    "record_policy": "LESSONKIT_RECORD_POLICY",
    "script": "LESSONKIT_SCRIPT",
    "recordings_dir": "LESSONKIT_RECORDINGS_DIR",
    "shown_as": "LESSONKIT_RECORDINGS_SHOWN_AS",
    "data_dir": "LESSONKIT_DATA_DIR",
    "usage_dir": "LESSONKIT_USAGE_DIR",
    "notebook": "LESSONKIT_NOTEBOOK",
    "database_url": "LESSONKIT_DATABASE_URL",
    "pg_bin": "LESSONKIT_PG_BIN",
}
RECORD_ONLY = ("script", "record_policy")  # what a replay run (tests, the replay pass) must not inherit


def raw(field: str, env: Mapping[str, str] | None = None) -> str | None:
    """One setting's text, unchecked (None: unset or empty): for code that needs only it, e.g. doctor with a bad mode set."""
    value = (os.environ if env is None else env).get(VARIABLES[field], "").strip()
    return value or None


def _path(env: Mapping[str, str], field: str) -> Path | None:
    value = raw(field, env)
    return Path(value) if value else None


def record_policy(raw: str | None) -> RecordPolicy | None:
    """LESSONKIT_RECORD_POLICY as ``lessonkit record`` sets it: all, missing (--missing-only); unset in a kernel."""
    raw = (raw or "").strip()
    if raw not in ("", "all", "missing"):
        raise ModeError(f"{VARIABLES['record_policy']}={raw!r} is not a policy; use all or missing (or leave it unset).")
    return cast(RecordPolicy, raw) if raw else None


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """What a lesson run (and the tools around it) is told from outside; None: not set, the default applies."""

    mode: Mode = "replay"
    replay_speed: float = 0.0
    record_policy: RecordPolicy | None = None
    script: Path | None = None
    recordings_dir: Path | None = None
    shown_as: str | None = None
    data_dir: Path | None = None
    usage_dir: Path | None = None
    notebook: str | None = None
    database_url: str | None = None
    pg_bin: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, front_end: bool | None = None,
                 speed: float | None = None) -> "Settings":
        """Read and check every setting (``front_end``: as if in a Jupyter front end, for the default speed).

        ``speed``: the caller's own (``lessonkit.start(speed=...)``), which wins: the variable is then not read at all.
        """
        env = os.environ if env is None else env
        return cls(
            mode=active_mode(env), replay_speed=replay_speed(env, speed, front_end),
            record_policy=record_policy(env.get(VARIABLES["record_policy"])), script=_path(env, "script"),
            recordings_dir=_path(env, "recordings_dir"), shown_as=raw("shown_as", env), data_dir=_path(env, "data_dir"),
            usage_dir=_path(env, "usage_dir"), notebook=raw("notebook", env), database_url=raw("database_url", env),
            pg_bin=raw("pg_bin", env),
        )

    def to_env(self, *fields: str) -> dict[str, str | None]:
        """The variables for ``fields`` (all when none are named), as a child process should see them."""
        out: dict[str, str | None] = {}
        for field in fields or tuple(VARIABLES):
            value = getattr(self, field)
            out[VARIABLES[field]] = None if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
        return out

    def replace(self, **changes: object) -> "Settings":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def record_mode(self) -> RecordMode:
        """The Recorder's mode for this run (live mode records nothing: REPLAY here, unused)."""
        return record_mode(recording=self.mode == "record", script=self.script is not None, extend=self.record_policy == "missing")


def active_mode(env: Mapping[str, str] | None = None) -> Mode:
    """LESSONKIT_MODE if set; otherwise live with an OpenAI key and replay without one."""
    env = os.environ if env is None else env
    raw = env.get(VARIABLES["mode"], "")
    if not raw.strip():
        return "live" if env.get("OPENAI_API_KEY") else "replay"
    return parse_mode(raw, VARIABLES["mode"])


def mode_reason(env: Mapping[str, str] | None = None) -> str:
    """Why ``active_mode`` chose what it did, for doctor."""
    env = os.environ if env is None else env
    if env.get(VARIABLES["mode"]):
        return VARIABLES["mode"]
    return "default: " + ("OPENAI_API_KEY is set" if env.get("OPENAI_API_KEY") else "no OPENAI_API_KEY")


def apply_env(environ: MutableMapping[str, str], values: Mapping[str, str | None]) -> None:
    """Set each variable (None: unset it), as ``to_env`` gives them."""
    for name, value in values.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def replay_only_env() -> dict[str, str | None]:
    """Replay at speed 0, nothing recorded: what every test and replay pass runs under."""
    return Settings(mode="replay", replay_speed=0.0).to_env("mode", "replay_speed", *RECORD_ONLY)
