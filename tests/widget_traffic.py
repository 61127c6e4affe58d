"""Fixtures that route every new widget's comm through CountingComm: what widgets would send, without a browser."""
from __future__ import annotations

from typing import Any, Iterator

import comm
import pytest

from bench.comm_bytes import CountingComm


@pytest.fixture
def widget_bytes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every message's size in bytes, in order."""
    CountingComm.reset()
    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: CountingComm(*args, **kwargs))
    yield CountingComm.sent


@pytest.fixture
def widget_messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Every message as ``(msg_type, data)`` (data as the browser would parse it), in order."""
    CountingComm.reset(keep=True)
    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: CountingComm(*args, **kwargs))
    yield CountingComm.messages
    CountingComm.reset()
