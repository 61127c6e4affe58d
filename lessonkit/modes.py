"""The one switch, LESSONKIT_MODE: replay (default without a key), live, or record."""
from __future__ import annotations

import os
from typing import Literal, Mapping, cast, get_args

from dotenv import find_dotenv, load_dotenv

from .errors import ModeError

Mode = Literal["replay", "live", "record"]
MODES: tuple[Mode, ...] = get_args(Mode)
DESCRIPTIONS: dict[Mode, str] = {
    "replay": "recorded responses, no network, no keys",
    "live": "real OpenAI and Tavily calls with your keys",
    "record": "real calls, saved to the lesson's recording",
}


def load_env() -> None:
    """Read .env (from the working directory upwards) without overriding what is already set."""
    load_dotenv(find_dotenv(usecwd=True), override=False)


def active_mode(env: Mapping[str, str] | None = None) -> Mode:
    """LESSONKIT_MODE if set; otherwise live with an OpenAI key and replay without one."""
    env = os.environ if env is None else env
    raw = env.get("LESSONKIT_MODE", "").strip().lower()
    if not raw:
        return "live" if env.get("OPENAI_API_KEY") else "replay"
    if raw not in MODES:
        raise ModeError(f"LESSONKIT_MODE={raw!r} is not a mode; use one of: {', '.join(MODES)}.")
    return cast(Mode, raw)


def replay_speed(env: Mapping[str, str] | None = None, override: float | None = None) -> float:
    """Replay pacing from 0 (instant) to 1 (as recorded): LESSONKIT_REPLAY_SPEED, default 0."""
    env = os.environ if env is None else env
    value: object = override if override is not None else env.get("LESSONKIT_REPLAY_SPEED", "0")
    try:
        speed = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModeError(f"Replay speed {value!r} is not a number; use 0 (instant) to 1 (as recorded).") from None
    if not 0.0 <= speed <= 1.0:
        raise ModeError(f"Replay speed {speed} is out of range; use 0 (instant) to 1 (as recorded).")
    return speed


def key_status(env: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Which keys are set: never their values."""
    env = os.environ if env is None else env
    return {name: bool(env.get(name)) for name in ("OPENAI_API_KEY", "TAVILY_API_KEY")}
