"""Run an app with uvicorn in a background thread of this process, on a free loopback port.

``server = background(app)`` returns once the server answers (its lifespan has run), with ``.url``
(``http://127.0.0.1:<port>``) and ``.ws_url``; ``server.stop()`` shuts it down (lifespan shutdown
included) and waits for the thread. It is also a context manager. A notebook's kernel and the tests use
it: the server's event loop is its own, so sync clients (``httpx.get``) and async ones both work from
the caller's thread. Every wait is bounded.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

import uvicorn

STARTUP_LIMIT_S = 30.0
LOOPBACK = "127.0.0.1"


@dataclass
class BackgroundServer:
    """A running uvicorn: where it listens, and how to stop it."""

    url: str
    ws_url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    stopped: bool = field(default=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and not self.stopped

    def stop(self, timeout: float = STARTUP_LIMIT_S) -> None:
        """Shut down (the app's lifespan closes what it opened) and wait for the thread; twice is harmless."""
        if self.stopped:
            return
        self.stopped = True
        self.server.should_exit = True
        self.thread.join(timeout=timeout)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError(f"the server at {self.url} did not stop within {timeout:g} s")

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<BackgroundServer {self.url} {'running' if self.running else 'stopped'}>"


def background(app: Any, *, host: str = LOOPBACK, port: int = 0, log_level: str = "warning",
               startup_limit_s: float = STARTUP_LIMIT_S) -> BackgroundServer:
    """Start ``app`` on ``host:port`` (port 0: a free one) in a daemon thread; return when it is serving.

    Raises RuntimeError if it does not start within ``startup_limit_s`` (the app's startup failed: its
    error is in the log uvicorn printed).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"lessonkit-serve-{bound}")
    thread.start()
    for _ in range(int(startup_limit_s / 0.01)):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    handle = BackgroundServer(f"http://{host}:{bound}", f"ws://{host}:{bound}", server, thread, sock)
    if not server.started:
        handle.stop(timeout=5.0) if thread.is_alive() else sock.close()
        raise RuntimeError(f"the server on {host}:{bound} did not start (see the log above)")
    return handle


class _CallableModule(types.ModuleType):
    """``lessonkit.serve.background(app)`` works even after ``import lessonkit.serve.background`` made the
    package attribute this module (a submodule import rebinds it): calling the module calls the function."""

    def __call__(self, app: Any, **options: Any) -> BackgroundServer:
        return background(app, **options)


sys.modules[__name__].__class__ = _CallableModule
