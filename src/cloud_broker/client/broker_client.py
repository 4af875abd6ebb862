"""Async HTTP client of the broker API: URLs, headers, bodies and the error texts (contract §2–§3).

The same client serves both deployments of the MCP server, and the runtime's ``secret_ref``
resolver. Over the network it uses httpx's default transport;
the embedded broker passes the streaming in-process transport of
:mod:`cloud_broker.mcp.asgi_stream` and an in-process :class:`~cloud_broker.client.tokens.TokenSource`,
so requests never leave the process but still go through the real API routes.

The event stream's silence limit is kept here, on the bytes as they arrive, rather than left to
the transport: the in-process transport has no socket and ignores httpx's read timeout, and a
broker that stopped talking must be noticed in either deployment.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx

from cloud_broker import __version__
from cloud_broker.client.errors import BrokerCallError, redact
from cloud_broker.client.tokens import TokenSource

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
"""Grant creation may page a human channel and mint at STS; leave it room, but not forever."""

USER_AGENT = f"cloud-broker-mcp/{__version__}"

STREAM_TIMEOUT = httpx.Timeout(45.0, connect=10.0)
"""An event stream sends a keepalive every 15 s: 45 s of silence means the broker is gone."""

STREAM_SILENCE_SECONDS = 45.0
"""The same limit, enforced by :meth:`BrokerClient.stream` itself whatever the transport."""


class BrokerClient:
    """Sends authenticated JSON requests to the broker and maps failures to model-readable text.

    Every call carries ``Authorization: Bearer <token>`` and ``Content-Type: application/json``
    (GETs and body-less POSTs too). A successful call returns the decoded JSON body; any
    failure raises :class:`BrokerCallError` whose ``str()`` is the exact tool-result text.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        stream_silence: float = STREAM_SILENCE_SECONDS,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._stream_silence = stream_silence
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, headers={"User-Agent": USER_AGENT})

    def __repr__(self) -> str:
        return f"BrokerClient(base_url={self._base_url!r})"

    async def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        """``GET {base}{path}?{query}`` and return the JSON body."""
        return await self._send("GET", path, query, None)

    async def post(
        self, path: str, *, query: Mapping[str, str] | None = None, body: Mapping[str, Any] | None = None
    ) -> Any:
        """``POST`` with a JSON body, or with no body at all when ``body`` is None."""
        return await self._send("POST", path, query, body)

    @asynccontextmanager
    async def stream(
        self, path: str, query: Mapping[str, str] | None = None, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """``GET`` a Server-Sent Events stream; the open response is the caller's to read.

        A non-2xx answer raises :class:`BrokerCallError` exactly as :meth:`get` would, and so
        does a transport failure while the stream is read, with the token redacted either way.
        So does silence: no response head, or no byte of the body, for ``stream_silence`` seconds.
        """
        token = await self._tokens.token()
        sent = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream", "Cache-Control": "no-store",
                **(headers or {})}
        request = self._http.build_request("GET", self.url(path, query), headers=sent, timeout=STREAM_TIMEOUT)
        try:
            with anyio.fail_after(self._stream_silence):
                response = await self._http.send(request, stream=True)
        except TimeoutError:
            raise BrokerCallError(f"the broker did not answer the event stream within {self._stream_silence:g} s") \
                from None
        except httpx.HTTPError as exc:
            raise BrokerCallError(redact(str(exc) or type(exc).__name__, token)) from None
        try:
            if not response.is_success:
                await response.aread()
                raise BrokerCallError(redact(_error_text(response), token), status=response.status_code)
            response.stream = SilenceLimit(response.stream, self._stream_silence, request)
            yield response
        except httpx.HTTPError as exc:
            raise BrokerCallError(redact(str(exc) or type(exc).__name__, token)) from None
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> BrokerClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        """The full URL: base + path as-is, plus a form-encoded query only when there is one."""
        return f"{self._base_url}{path}" + (f"?{urlencode(query)}" if query else "")

    async def _send(
        self, method: str, path: str, query: Mapping[str, str] | None, body: Mapping[str, Any] | None
    ) -> Any:
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        try:
            response = await self._http.request(method, self.url(path, query), headers=headers, content=content)
        except httpx.HTTPError as exc:
            # `from None`: the chained httpx error keeps the request, Authorization header included.
            raise BrokerCallError(redact(str(exc) or type(exc).__name__, token)) from None
        return _decode(response, token)


class SilenceLimit(httpx.AsyncByteStream):
    """A response body that fails with :class:`httpx.ReadTimeout` after ``seconds`` without a byte.

    Any bytes count, keepalive comments included, so a quiet stream is not taken for a dead one.
    """

    def __init__(self, body: httpx.SyncByteStream | httpx.AsyncByteStream, seconds: float,
                 request: httpx.Request) -> None:
        if not isinstance(body, httpx.AsyncByteStream):
            raise TypeError("an async client's response body is an AsyncByteStream")
        self._body = body
        self._seconds = seconds
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._body)
        while True:
            try:
                with anyio.fail_after(self._seconds):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise httpx.ReadTimeout(f"no data from the broker for {self._seconds:g} s",
                                        request=self._request) from None
            yield chunk

    async def aclose(self) -> None:
        await self._body.aclose()


def _decode(response: httpx.Response, token: str) -> Any:
    """Apply the contract's response rules; 204 fails like any 2xx without a JSON body."""
    status = response.status_code
    if not response.is_success:
        raise BrokerCallError(redact(_error_text(response), token), status=status)
    try:
        return json.loads(response.content)
    except ValueError:
        raise BrokerCallError(
            f"Broker returned {status} but the response body was not valid JSON", status=status
        ) from None


def _error_text(response: httpx.Response) -> str:
    """Only a string ``error`` field reaches the model; codes and details stay behind."""
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, str):
        return error
    return f"Broker request failed: {response.status_code}"
