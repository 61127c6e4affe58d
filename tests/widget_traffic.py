"""The ``widget_bytes`` fixture: every comm message a widget would send, in bytes, without a browser."""
from __future__ import annotations

from typing import Iterator

import comm
import pytest

from bench.comm_bytes import CountingComm


@pytest.fixture
def widget_bytes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Route every new widget's comm through CountingComm; yields the list of message sizes."""
    CountingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: CountingComm(*args, **kwargs))
    yield CountingComm.sent
