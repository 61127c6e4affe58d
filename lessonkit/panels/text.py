"""Text shown inside HTML widgets: escaped, so a model's or a tool's text is never read as markup.

Streamed text itself (answers, tool arguments) goes to ``token_view.TokenView``, whose browser side
sets it as DOM text and needs no escaping.
"""
from __future__ import annotations

import html


def escape(text: str) -> str:
    """``text`` as HTML content (``&``, ``<``, ``>``; quotes are safe outside attributes)."""
    return html.escape(text, quote=False)
