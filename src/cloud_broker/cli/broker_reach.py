"""Naming the broker an agent host could not reach, and where its address came from.

A connection error from httpx says "All connection attempts failed" and nothing else: the
operator reading it in an MCP client's log cannot tell which address was tried, or which
setting to fix. The remote MCP server's HTTP traffic goes through this transport, which adds
both to the error; the client turns the error into the text the model and the log show.
"""

from __future__ import annotations

import httpx

# The errors that mean "nothing answered there", as opposed to an answer that went wrong.
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout)


class NamedBrokerTransport(httpx.AsyncBaseTransport):
    """Passes every request to ``inner``; a failure to connect names the URL and ``source``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, source: str) -> None:
        self._inner, self._source = inner, source

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except _UNREACHABLE as exc:
            raise type(exc)(unreachable_text(request.url, self._source, exc), request=request) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


def unreachable_text(url: httpx.URL, source: str, exc: Exception) -> str:
    """The address without credentials, path or query: where, not what was asked."""
    port = f":{url.port}" if url.port else ""
    return (f"cannot reach the broker at {url.scheme}://{url.host}{port} (set by {source}); is `cloud-broker serve` "
            f"running there? ({exc or type(exc).__name__})")
