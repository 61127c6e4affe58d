"""The one switch, the mode: replay (default without a key), live, or record (read by lessonkit.harness.settings)."""
from __future__ import annotations

import difflib
import os
import sys
from typing import Literal, Mapping, cast, get_args

from dotenv import find_dotenv, load_dotenv

from ..errors import ModeError

Mode = Literal["replay", "live", "record"]
MODES: tuple[Mode, ...] = get_args(Mode)
DESCRIPTIONS: dict[Mode, str] = {
    "replay": "recorded responses, no network, no keys",
    "live": "real OpenAI and Tavily calls with your keys",
    "record": "real calls, saved to the lesson's recording",
}


def load_env() -> None:
    """Read .env (from the working directory upwards) without overriding what is already set.

    A .env that cannot be read (another user's file on a shared server, a folder, not UTF-8) is
    reported in one line and skipped: replay needs nothing from it, so the lesson still runs.
    """
    path = find_dotenv(usecwd=True)
    if not path:
        return
    try:
        load_dotenv(path, override=False)
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        print(f"lessonkit: cannot read {path} ({reason}); its settings are ignored. Replay needs no keys; "
              "for live or record mode make it readable (chmod u+r) or set the variables in your shell.", file=sys.stderr)


def parse_mode(value: object, source: str = "mode") -> Mode:
    """A mode exactly as written (lower case), or a ModeError that suggests the one that was meant.

    Strict on purpose: a mistyped mode must never fall through to record or live, which spend money.
    """
    text = value.strip() if isinstance(value, str) else value
    if text in MODES:
        return cast(Mode, text)
    close = difflib.get_close_matches(str(text).lower(), MODES, n=1, cutoff=0.5) if isinstance(text, str) else []
    hint = f" Did you mean {close[0]!r}? Modes are lower case." if close else ""
    raise ModeError(f"{source}={value!r} is not a mode; use one of: {', '.join(MODES)}.{hint}")


def active_mode(env: Mapping[str, str] | None = None) -> Mode:
    """The mode the settings say (lessonkit.harness.settings reads the variable); kept here as the public name."""
    from .settings import active_mode as settings_mode

    return settings_mode(env)


def in_jupyter_front_end() -> bool:
    """True in a Jupyter kernel (JupyterLab, Notebook 7, VS Code, Colab): a class is watching the tokens arrive."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def default_speed(env: Mapping[str, str], front_end: bool) -> str:
    """Speed 1 in a live Jupyter front end, so a class sees tokens arrive and TTFT means something; 0 anywhere else
    (scripts, CI). pytest (lessonkit's plugin), ``lessonkit run`` and ``lessonkit record`` set 0 explicitly."""
    return "1" if front_end and not env.get("CI") else "0"


def replay_speed(env: Mapping[str, str] | None = None, override: float | None = None, front_end: bool | None = None) -> float:
    """Replay pacing from 0 (instant) to 1 (as recorded): ``override``, else the setting, else ``default_speed``."""
    from .settings import VARIABLES

    env = os.environ if env is None else env
    return resolve_speed(override if override is not None else env.get(VARIABLES["replay_speed"], ""), env, front_end)


def resolve_speed(value: object, env: Mapping[str, str], front_end: bool | None = None) -> float:
    """A speed as given (a number, or text from the environment; empty: the default), checked."""
    if isinstance(value, str) and not value.strip():  # an empty entry, as in .env.example, means the default
        value = default_speed(env, in_jupyter_front_end() if front_end is None else front_end)
    if isinstance(value, bool):
        raise ModeError(f"Replay speed {value!r} is not a number; use 0 (instant) to 1 (as recorded).")
    try:
        speed = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModeError(f"Replay speed {value!r} is not a number; use 0 (instant) to 1 (as recorded).") from None
    if not 0.0 <= speed <= 1.0:  # also refuses nan
        raise ModeError(f"Replay speed {speed} is out of range; use 0 (instant) to 1 (as recorded).")
    return speed


def key_status(env: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Which keys are set: never their values."""
    env = os.environ if env is None else env
    return {name: bool(env.get(name)) for name in ("OPENAI_API_KEY", "TAVILY_API_KEY")}
