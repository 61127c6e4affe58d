"""One section per run in a panel, with a heading once the panel holds a second run.

A panel that shows one run looks (and prints) as it always did. When a second run starts, the first
run gets its heading too, so every run's cards sit under ``run N · thread "…" · "question"``. Only the
newest section ever changes: headings are inserted once, and new cards are appended after them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Container

import ipywidgets as widgets

from ..stream.events import RunStart
from .labels import numbered, thread_label
from .style import SHARED_HTML_STYLE, SHARED_LAYOUT
from .text import escape

TEXT_HEADING = "── "  # starts a run's heading line in a text form


@dataclass(eq=False)  # two runs may have the same label: a section is itself, not its contents
class Section:
    """One run's part of a panel: its label and the keys (call ids, tool call ids) of what it shows."""

    label: str
    keys: list[str] = field(default_factory=list)
    started: bool = False  # a RunStart opened it (the first section exists before any run)

    def heading(self, number: int) -> str:
        return numbered(number, self.label)


ShowHeading = Callable[[str, bool], None]
"""Shows a run's heading in a panel: ``(text, first)``, first meaning above everything shown so far."""


def heading_widget(text: str) -> widgets.HTML:
    return widgets.HTML(value=f"<b>{escape(text)}</b>", layout=SHARED_LAYOUT, style=SHARED_HTML_STYLE, _dom_classes=("lk-run-label",))


def box_headings(box: widgets.Box) -> ShowHeading:
    """Headings as widgets in a box of cards (the tool decision and timing panels)."""
    def show(text: str, first: bool) -> None:
        heading = heading_widget(text)
        box.children = (heading, *box.children) if first else (*box.children, heading)
    return show


class RunSections:
    """The sections of one panel, and their headings wherever the panel shows them (``show_heading``)."""

    def __init__(self, show_heading: ShowHeading) -> None:
        self.show_heading = show_heading
        self.sections = [Section("")]
        self.live: dict[str, str] = {}  # the current run's event ids → the panel's keys
        self._begun = False

    @property
    def current(self) -> Section:
        return self.sections[-1]

    @property
    def several(self) -> bool:
        return len(self.sections) > 1

    def begin(self, label: str) -> bool:
        """A run begins (the dashboard says so before streaming, with the question it knows).

        It takes the still empty first section, or opens a new one (True) with its heading; the
        first run gets its heading then too.
        """
        self._begun = True
        self.live = {}
        if not self.current.started and not self.current.keys:
            self.current.label, self.current.started = label, True
            return False
        self.sections.append(Section(label, started=True))
        if len(self.sections) == 2:  # the first run's heading, above everything shown so far
            self.show_heading(self.sections[0].heading(1), True)
        self.show_heading(self.current.heading(len(self.sections)), False)
        return True

    def start(self, event: RunStart) -> bool:
        """A RunStart: a new section, unless ``begin`` already opened this run's (a panel used on its own)."""
        if self._begun:
            self._begun = False
            return False
        changed = self.begin(thread_label(event.thread_id))
        self._begun = False
        return changed

    def add(self, event_key: str, taken: Container[str]) -> str:
        """Give an event's id (a call id, a tool call id) a key of its own in this panel.

        Replaying the same recorded answer twice gives the same ids in two runs; the second run's
        card must not replace the first one's, so a repeated id gets a suffix.
        """
        key, n = event_key, 1
        while key in taken:
            n += 1
            key = f"{event_key}~{n}"
        self.live[event_key] = key
        self.current.keys.append(key)
        return key

    def text(self, lines_of: Callable[[Section], list[str]], empty: str, empty_section: str, run: int | None = None) -> str:
        """The panel's text form: unchanged for one run; with several, each run under its heading.

        ``run``: only that run's lines (0-based, as in ``Dashboard.runs``), without a heading.
        """
        if run is not None:
            return "\n".join(lines_of(self.sections[run]) if run < len(self.sections) else []) or empty
        if not self.several:
            return "\n".join(lines_of(self.current)) or empty
        out: list[str] = []
        for number, section in enumerate(self.sections, 1):
            out.append(TEXT_HEADING + section.heading(number))
            out += lines_of(section) or [empty_section]
        return "\n".join(out)
