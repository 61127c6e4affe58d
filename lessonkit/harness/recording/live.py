"""Live traffic, redacted: the transports live mode uses, and the HTTP upstream a record run asks.

An error body is redacted before anything reads it (the openai client quotes it in the exception a
notebook shows); answers, streams included, pass through untouched and unbuffered.
"""
from __future__ import annotations

import httpx
from httpx._utils import get_environment_proxies  # the same reading of proxy variables httpx's default client does

from ...support.redact import redact


def _redacted_error(upstream: httpx.Response, content: bytes) -> httpx.Response:
    """An upstream error answer again, its (decoded) body redacted."""
    headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
    extensions = {k: v for k, v in upstream.extensions.items() if k in ("http_version", "reason_phrase")}
    return httpx.Response(upstream.status_code, headers=headers, content=redact(content.decode("utf-8", "replace")).encode(), extensions=extensions)


class RedactingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Live mode's transport: httpx's own, except that an error body is redacted before the client reads it.

    OpenAI's 401 quotes the key's prefix and last 4, a 429 names the org, a debugging proxy may echo the
    Authorization header; the openai client copies that body into the exception a notebook shows and
    LangGraph checkpoints. Answers (2xx, streams included) pass through untouched and unbuffered.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None, async_inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.async_inner = async_inner or httpx.AsyncHTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        upstream = self.inner.handle_request(request)
        if upstream.is_success:
            return upstream
        try:
            content = upstream.read()
        finally:
            upstream.close()
        return _redacted_error(upstream, content)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        upstream = await self.async_inner.handle_async_request(request)
        if upstream.is_success:
            return upstream
        try:
            content = await upstream.aread()
        finally:
            await upstream.aclose()
        return _redacted_error(upstream, content)

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.async_inner.aclose()


def proxy_mounts() -> dict[str, RedactingTransport | None]:
    """httpx's reading of HTTP(S)_PROXY / ALL_PROXY / NO_PROXY, each proxied route redacting too.

    A client handed a transport ignores the proxy variables; these mounts restore them, so live mode
    behind a proxy still works (``None``: no proxy for that pattern, the client's own transport).
    """
    return {
        pattern: None if url is None else RedactingTransport(httpx.HTTPTransport(proxy=url), httpx.AsyncHTTPTransport(proxy=url))
        for pattern, url in get_environment_proxies().items()
    }
