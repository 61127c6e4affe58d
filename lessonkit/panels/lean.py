"""Core widgets that open with only the state lessonkit uses.

Opening a widget sends its whole state, ~560 B for an HTML widget, of which ~240 B are traits lessonkit
never sets (``description``, ``placeholder``, ``tooltip``...) or that repeat the view's name and module,
all with browser-side defaults equal to Python's. A streamed answer opens a widget per segment, so these
subclasses leave those traits out of ``keys`` (the synced traits, a documented ``Widget`` trait) and the
browser fills them in from its own model defaults. They are still the core HTML/Box/VBox models and
views (ipywidgets 7.7 and 8.x); the browser test checks a 1,500-token answer renders exactly.
"""
from __future__ import annotations

from typing import ClassVar

import ipywidgets as widgets
from traitlets import default

UNUSED_TRAITS = frozenset({"_view_count", "_view_module", "_view_module_version", "_view_name", "description", "description_allow_html", "description_tooltip", "placeholder", "tabbable", "tooltip", "box_style"})


def _lean_keys(self: widgets.Widget) -> list[str]:
    return [name for name in self.traits(sync=True) if name not in self.unsynced]  # type: ignore[attr-defined]


class LeanHTML(widgets.HTML):
    unsynced: ClassVar[frozenset[str]] = UNUSED_TRAITS
    _keys = default("keys")(_lean_keys)


class LeanBox(widgets.Box):
    unsynced: ClassVar[frozenset[str]] = UNUSED_TRAITS
    _keys = default("keys")(_lean_keys)


class LeanVBox(widgets.VBox):
    unsynced: ClassVar[frozenset[str]] = UNUSED_TRAITS
    _keys = default("keys")(_lean_keys)
