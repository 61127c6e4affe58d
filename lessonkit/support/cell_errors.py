"""lessonkit's own errors, shown in a notebook cell as what they are: one message, no traceback.

A ``RecordingMissError`` or ``DatabaseUnavailableError`` already says what happened and what to do next;
the 390 lines of LangGraph and httpx frames IPython would print above it bury that (and under nbval the
message must be the last, short thing printed). ``start()`` installs the handler through IPython's public
``set_custom_exc``; any other exception keeps its full traceback.
"""
from __future__ import annotations

import warnings
from typing import Any

from ..errors import LessonkitError

_INSTALLED: set[int] = set()


def short_traceback(etype: type[BaseException], value: BaseException) -> list[str]:
    """The lines a cell shows for a lessonkit error: its name and message (pure)."""
    return [f"{etype.__name__}: {value}"]


def _handler(shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    """Show the short form. IPython's run_code calls a custom handler without displaying what it returns, so
    the handler displays it through ``_showtraceback`` (what ipykernel overrides to send the error message;
    private: tests/test_errors.py::test_ipython_still_has_showtraceback fails loudly if it moves)."""
    stb = short_traceback(etype, value)
    shell._showtraceback(etype, value, stb)
    return stb


def install_short_errors() -> bool:
    """In an IPython kernel, show LessonkitErrors without a traceback; True when installed (or already)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    if id(shell) not in _INSTALLED:
        # trio (imported later by httpx's stack) warns when IPython already has a custom handler; ours only
        # shortens lessonkit's own errors and leaves every other exception (trio's included) to IPython.
        warnings.filterwarnings("ignore", message="IPython detected, but you already have a custom exception handler",
                                category=RuntimeWarning)
        shell.set_custom_exc((LessonkitError,), _handler)
        _INSTALLED.add(id(shell))
    return True
