"""Count what widgets would send to a browser: every comm message, in bytes, without a browser."""
from __future__ import annotations

import json
from typing import Any, Iterator

import comm
import pytest
from comm.base_comm import BaseComm


class CountingComm(BaseComm):
    """A comm that measures each message it would publish (state sync, updates, custom messages)."""

    sent: list[int] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        CountingComm.sent.append(len(json.dumps({"msg_type": msg_type, "data": data}, default=str, ensure_ascii=False).encode()) + sum(len(b) for b in buffers or ()))


@pytest.fixture
def widget_bytes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Route every new widget's comm through CountingComm; yields the list of message sizes."""
    CountingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: CountingComm(*args, **kwargs))
    yield CountingComm.sent
