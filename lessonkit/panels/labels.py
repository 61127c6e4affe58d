"""Which run is which: a short label (thread and question) for each run a dashboard shows.

When one dashboard shows several runs, possibly on different threads, the cards of each run sit under
a heading such as ``run 2 · thread "trip" · "What about in la?"``. The label is decided here, from the
run's inputs alone (no graph, no widgets), so it is the same in the widget and in the text form.
"""
from __future__ import annotations

from typing import Any, Mapping

from langgraph.types import Command

QUESTION_CHARS = 60  # a longer question is cut, with an ellipsis: the label is a heading, not a transcript
HUMAN_ROLES = frozenset({"human", "user"})


def _content_text(content: Any) -> str:
    """Message content as one line of text (a string, or a list of parts with ``text``)."""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content)
    return " ".join(str(content or "").split())


def _human_text(message: Any) -> str | None:
    """The text of ``message`` if a person wrote it, in any form LangGraph accepts; else None."""
    if isinstance(message, str):  # a bare string in "messages" is a human message
        return _content_text(message)
    if isinstance(message, (tuple, list)) and len(message) == 2 and isinstance(message[0], str):
        return _content_text(message[1]) if message[0] in HUMAN_ROLES else None
    if isinstance(message, Mapping):
        role = message.get("role", message.get("type"))
        return _content_text(message.get("content")) if role in HUMAN_ROLES else None
    if getattr(message, "type", None) == "human":  # a HumanMessage (or its chunk)
        return _content_text(getattr(message, "content", ""))
    return None


def shorten(text: str, limit: int = QUESTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def run_question(inputs: Any) -> str:
    """What a run was asked: the last human message, quoted; ``resume`` for a Command; ``continue`` for None.

    ``None`` continues a thread from its last checkpoint (after a Stop, say); a ``Command`` answers an
    interrupt (its resume value is shown when it is short text).
    """
    if inputs is None:
        return "continue"
    if isinstance(inputs, Command):
        value = inputs.resume
        return f'resume "{shorten(_content_text(value), 30)}"' if isinstance(value, str) and value.strip() else "resume"
    messages = inputs.get("messages") if isinstance(inputs, Mapping) else inputs
    if isinstance(messages, tuple) and not (len(messages) == 2 and isinstance(messages[0], str)):
        messages = list(messages)  # a tuple of messages, not one ("user", "text") message
    if not isinstance(messages, list):
        messages = [] if messages is None else [messages]
    for message in reversed(messages):
        text = _human_text(message)
        if text is not None:
            return f'"{shorten(text)}"'
    return "no question"


def thread_label(thread_id: str | None) -> str:
    """``thread "1"``, or ``no thread`` for a run without a checkpointer's thread."""
    return f'thread "{thread_id}"' if thread_id is not None else "no thread"


def run_label(thread_id: str | None, inputs: Any) -> str:
    """``thread "1" · "What is the weather in sf?"``: where a run ran and what it was asked."""
    return f"{thread_label(thread_id)} · {run_question(inputs)}"


def numbered(number: int, label: str) -> str:
    """A run's heading in a panel that shows several runs: ``run 2 · thread "1" · "…"``."""
    return f"run {number} · {label}" if label else f"run {number}"
