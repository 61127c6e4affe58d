"""A real uvicorn on 127.0.0.1 (a free port), in a background thread of the test process, per module.

In-process so tests can hold a fake model's gate (tests/serve/fakes.py) while talking HTTP and
WebSocket to the server like any client. Every wait is a bounded loop.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

STARTUP_LIMIT_S = 30.0


@dataclass
class Served:
    url: str
    ws_url: str
    server: uvicorn.Server

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=httpx.Timeout(30.0), **kwargs)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[Served]:
    """Run ``app`` on a free loopback port until the block ends; the lifespan runs at both ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(int(STARTUP_LIMIT_S / 0.01)):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield Served(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_LIMIT_S)
        sock.close()


def wait_until(predicate: Any, what: str, limit_s: float = 20.0) -> None:
    """Poll ``predicate`` (bounded); fail naming ``what`` if it never holds."""
    for _ in range(int(limit_s / 0.005)):
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
