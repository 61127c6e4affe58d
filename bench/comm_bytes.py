"""Count what widgets would send to a browser: every comm message, in bytes, without a browser.

Sizes are the message's ``msg_type`` and ``data`` as UTF-8 JSON (as jupyter_client packs them) plus
any binary buffers; the Jupyter header, the same for every message, is left out. Used by the traffic
benchmark and by the panel tests (``tests/widget_traffic.py``). ``senders`` says which comm (widget
model id) sent each message, so a benchmark can tell the streamed text from the rest; ``messages``
keeps each ``(msg_type, data)`` and ``buffers`` their binary buffers when ``keep`` is set (the tests read what
was sent, not only how much).
"""
from __future__ import annotations

import json
from typing import Any

from comm.base_comm import BaseComm


class CountingComm(BaseComm):
    """A comm that measures each message it would publish (state sync, updates, custom messages)."""

    sent: list[int] = []
    senders: list[str] = []
    messages: list[tuple[str, Any]] = []
    buffers: list[list[bytes]] = []
    keep = False

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        packed = json.dumps({"msg_type": msg_type, "data": data}, default=str, ensure_ascii=False).encode()
        CountingComm.sent.append(len(packed) + sum(len(b) for b in buffers or ()))
        CountingComm.senders.append(self.comm_id)
        if CountingComm.keep:
            CountingComm.messages.append((msg_type, json.loads(packed)["data"]))
            CountingComm.buffers.append([bytes(b) for b in buffers or ()])

    @classmethod
    def reset(cls, keep: bool = False) -> None:
        """Start counting afresh (``keep``: also record each message's content)."""
        cls.sent, cls.senders, cls.messages, cls.buffers, cls.keep = [], [], [], [], keep
