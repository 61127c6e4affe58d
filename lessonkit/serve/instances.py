"""``lessonkit serve`` as separate processes: several instances on one database, as behind a load balancer.

``start_instance(database=url)`` runs ``python -m lessonkit serve`` on a free 127.0.0.1 port and returns once
``/health`` answers, with ``.url`` and ``.stop()`` (also a context manager; every instance still running is stopped
at exit). Lesson 07, the tests and ``bench/class_load.py`` use it to show what one process cannot: two servers
sharing threads through Postgres. A Postgres URL travels in ``LESSONKIT_DATABASE_URL``, never on the command line
(where ``ps`` would show its password). Every wait is bounded; a server that fails to start raises with the end of
its log (redacted).
"""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lessonkit.postgres import is_postgres_url
from lessonkit.support.redact import redact

from lessonkit.harness.settings import Settings

STARTUP_LIMIT_S = 60.0
STOP_LIMIT_S = 15.0

_RUNNING: weakref.WeakSet[Instance] = weakref.WeakSet()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(port: int, database: str | os.PathLike[str] | None, *, mode: str, speed: float,
                  recordings: Path | None, lesson: str | None, extra: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The command line and the extra environment of one instance (pure; a Postgres URL goes in the environment)."""
    command = [sys.executable, "-m", "lessonkit", "serve", "--port", str(port), "--mode", mode, "--speed", str(speed),
               "--log-level", "warning"]
    env: dict[str, str] = {}
    if database is not None:
        if is_postgres_url(os.fspath(database)):
            env.update(Settings(database_url=os.fspath(database)).to_env("database_url"))  # type: ignore[arg-type]
        else:
            command += ["--database", os.fspath(database)]
    if recordings is not None:
        command += ["--recordings", str(recordings)]
    if lesson is not None:
        command += ["--lesson", lesson]
    return command + list(extra), env


@dataclass(eq=False)
class Instance:
    """One ``lessonkit serve`` process: where it listens, its log, and how to stop it."""

    url: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path = field(repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return redact(self.log.read_text(errors="replace")[-chars:])
        return ""

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown: runs end, the saver closes), then SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_LIMIT_S)
        _RUNNING.discard(self)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-run, as a crashed machine would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_LIMIT_S)
        _RUNNING.discard(self)

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_instance(*, database: str | os.PathLike[str] | None = None, mode: str = "replay", speed: float = 0.0,
                   recordings: Path | None = None, lesson: str | None = None, extra: tuple[str, ...] = (),
                   env: dict[str, str] | None = None) -> Instance:
    """Start one instance and wait (bounded) until it answers ``/health``; RuntimeError with its log if it cannot."""
    port = free_port()
    command, extra_env = serve_command(port, database, mode=mode, speed=speed, recordings=recordings, lesson=lesson, extra=extra)
    log = Path(tempfile.mkstemp(prefix=f"lessonkit-serve-{port}-", suffix=".log")[1])
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **(env or {}), **extra_env})
    instance = Instance(f"http://127.0.0.1:{port}", process, log)
    _RUNNING.add(instance)
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{instance.url}/health", timeout=2.0).status_code == 200:
                return instance
        time.sleep(0.05)
    instance.stop()
    raise RuntimeError(f"lessonkit serve on port {port} did not start (exit code {process.returncode}):\n{instance.log_tail()}")


def _stop_all() -> None:
    """At exit: SIGTERM every instance at once, then wait for each (a kernel's shutdown stays short)."""
    running = list(_RUNNING)
    for instance in running:
        with contextlib.suppress(Exception):
            if instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
    for instance in running:
        with contextlib.suppress(Exception):
            instance.stop()


atexit.register(_stop_all)
