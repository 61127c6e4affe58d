"""Kept only so ``tools.py`` and ``sections.py`` still import: ``LeanHTML`` is now the core ``HTML`` widget.

The lean widgets left out of ``keys`` the traits lessonkit never set and relied on each front end's
defaults for them (~240 B fewer per widget opened). That paid while a streamed answer opened a widget
per segment; answers now stream into one ``StreamText`` each (``stream_text.py``), so a lean widget
would save ~240 B per tool card or run heading (bench/traffic.py opens neither) at the price of
depending on every front end's defaults. Import ``ipywidgets.HTML`` directly and delete this module.
"""
from __future__ import annotations

import ipywidgets as widgets

LeanHTML = widgets.HTML
