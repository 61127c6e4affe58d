"""What every panel shares: an event hook, a sync to the browser, a text form, a widget form.

Like rich's renderables, a panel knows how to show itself both ways: ``_repr_mimebundle_`` gives
front ends the live widget and terminals (and nbval) the plain text of ``text()``.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..stream.events import StreamEvent


class Panel:
    """Base class: subclasses fill ``on_event``, ``sync`` and ``text`` and build ``self.widget``."""

    widget: widgets.Widget

    def begin_run(self, label: str) -> None:
        """A run is about to stream into the panel; ``label`` says which (thread and question)."""

    def on_event(self, event: StreamEvent) -> bool:
        """Take one event into the panel's state; True if anything visible changed."""
        return False

    def sync(self) -> None:
        """Push the changed state into the widgets (called by the dashboard's flusher)."""

    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget view for front ends (``get_view_spec()``: ipywidgets' own, 7.x and 8.x), text for the rest."""
        return {"application/vnd.jupyter.widget-view+json": self.widget.get_view_spec(), "text/plain": self.text()}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())
