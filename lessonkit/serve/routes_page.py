"""``GET /``: the chat page, one self-contained HTML file (``static/chat.html``) shipped with the package.

No build step and nothing fetched from elsewhere: the page's CSS and JavaScript are inline, and the
Content-Security-Policy sent with it allows exactly those two inline blocks (by their SHA-256) and
requests to this server, so it works offline and a stray external URL would fail loudly in the console.
The page is public (it is where a student pastes their token); every request it makes goes through the
API's own ``current_user``.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["page"])
PAGE = "chat.html"
_INLINE = {"script": re.compile(r"<script>(.*?)</script>", re.DOTALL), "style": re.compile(r"<style>(.*?)</style>", re.DOTALL)}


def _sources(html: str, tag: str) -> str:
    """The CSP source list allowing ``html``'s inline ``tag`` blocks, by hash."""
    digests = (base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in _INLINE[tag].findall(html))
    return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"


@functools.lru_cache(maxsize=1)
def page() -> tuple[str, dict[str, str]]:
    """The page and its headers (read once from the installed package)."""
    html = resources.files(__package__).joinpath("static", PAGE).read_text(encoding="utf-8")
    policy = (f"default-src 'none'; script-src {_sources(html, 'script')}; style-src {_sources(html, 'style')}; "
              "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html, {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
                  "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def chat_page() -> HTMLResponse:
    """The chat client: threads, a streamed reply with tool cards, history, interrupts, delete."""
    html, headers = page()
    return HTMLResponse(html, headers=headers)
