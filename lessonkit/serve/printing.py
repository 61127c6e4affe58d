"""Wire events as short lines for people: what notebooks print while a served turn streams."""
from __future__ import annotations

import json
from typing import Any, Mapping

_SHOWN_FIELDS = ("name", "args", "status", "error", "message", "content")


def describe(event: Mapping[str, Any], limit: int = 90) -> str:
    """One short line for a wire event: its id, its type and the fields worth reading (ids left out)."""
    head = f"{event.get('event_id', ''):>3} {event.get('type')}".strip()
    if event.get("type") == "interrupt" and isinstance(event.get("value"), Mapping):
        value = event["value"]
        calls = ", ".join(f"{c.get('name')}({json.dumps(c.get('args'), ensure_ascii=False)})" for c in value.get("tool_calls") or ())
        return f"{head}: {value.get('question', '')} {calls}".rstrip()
    parts = []
    for key in _SHOWN_FIELDS:
        if key in event and event[key] not in (None, ""):
            value = event[key] if isinstance(event[key], str) else json.dumps(event[key], ensure_ascii=False)
            parts.append(f"{key}={value if len(value) <= limit else value[: limit - 1] + '…'}")
    return f"{head} " + " ".join(parts) if parts else head


class EventPrinter:
    """Prints wire events as they come: answer tokens run on in one line, every other event on its own."""

    def __init__(self) -> None:
        self.inline = False

    def __call__(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "token":
            print(event.get("content", ""), end="")
            self.inline = True
            return
        if self.inline:
            print()
            self.inline = False
        print(describe(event))


def show(events: Any) -> None:
    """Print a list of wire events (tokens as running text)."""
    printer = EventPrinter()
    for event in events:
        printer(event)
    if printer.inline:
        print()
