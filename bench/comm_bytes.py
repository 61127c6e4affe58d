"""Count what widgets would send to a browser: every comm message, in bytes, without a browser.

Sizes are the message's ``msg_type`` and ``data`` as UTF-8 JSON (as jupyter_client packs them) plus
any binary buffers; the Jupyter header, the same for every message, is left out. Used by the traffic
benchmark and by the panel tests (``tests/widget_traffic.py``).
"""
from __future__ import annotations

import json
from typing import Any

from comm.base_comm import BaseComm


class CountingComm(BaseComm):
    """A comm that measures each message it would publish (state sync, updates, custom messages)."""

    sent: list[int] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        packed = json.dumps({"msg_type": msg_type, "data": data}, default=str, ensure_ascii=False).encode()
        CountingComm.sent.append(len(packed) + sum(len(b) for b in buffers or ()))
