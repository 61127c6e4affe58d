"""Cleanup that must run at exit *before* the interpreter waits for its non-daemon threads.

``atexit`` handlers run only after ``threading._shutdown()`` has joined every non-daemon thread: a
handler that is what stops such a thread (an aiosqlite connection's worker, a psycopg pool's workers, a
Postgres session kept for advisory locks) comes too late, and the interpreter hangs at exit instead.
CPython's threading keeps a second hook list, run inside ``_shutdown()`` *before* that join, for exactly
this (``concurrent.futures`` uses it since 3.9). It is private, so it is wrapped here once:
tests/test_private_apis.py fails loudly, saying what breaks, if it moves. Without it we fall back to
``atexit`` (exit is clean again only once every saver is closed by hand).
"""
from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

__all__ = ["at_interpreter_exit", "runs_before_thread_join"]


def runs_before_thread_join() -> bool:
    """Whether this Python has threading's pre-join hook list (False: hooks fall back to atexit)."""
    return callable(getattr(threading, "_register_atexit", None))


def at_interpreter_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit, before non-daemon threads are joined, so it can end them.

    Hooks run last registered first, like atexit. Registering while the interpreter is already shutting
    down (threading refuses that with RuntimeError) falls back to atexit instead of failing the import.
    """
    register = getattr(threading, "_register_atexit", None)
    if callable(register):
        try:
            register(hook)
            return
        except RuntimeError:  # "can't register atexit after shutdown"
            pass
    atexit.register(hook)
