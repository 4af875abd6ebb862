"""An httpx transport into an in-process ASGI app that streams event-stream responses.

The embedded broker (``cloud-broker mcp --config``) routes the MCP server's HTTP client into
the broker app in the same process. ``httpx.ASGITransport`` (0.28) runs the app to completion
and buffers the whole body before it returns; a Server-Sent Events response never completes,
so the grant event stream would hang forever. Here a request that accepts
``text/event-stream`` runs the app in a background task and its body arrives chunk by chunk;
every other request still goes through ``httpx.ASGITransport``, unchanged.

There is no socket here, so httpx's read timeout means nothing to this transport: the silence
limit of an event stream is kept by :meth:`~cloud_broker.client.broker_client.BrokerClient.stream`,
which works the same over either transport. A caller that gives up before the app answered
still has the app hear ``http.disconnect``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

Message = MutableMapping[str, Any]
ASGIApp = Any
BODY_BUFFER_CHUNKS = 16


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Use via :func:`streaming_asgi_transport`, which owns the tasks the apps run in."""

    def __init__(self, app: ASGIApp, tasks: TaskGroup) -> None:
        self._app = app
        self._tasks = tasks
        self._buffered = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "text/event-stream" not in request.headers.get("accept", ""):
            return await self._buffered.handle_async_request(request)
        exchange = _Exchange(_scope(request), await request.aread())
        self._tasks.start_soon(exchange.run, self._app)
        return await exchange.response(request)

    async def aclose(self) -> None:
        await self._buffered.aclose()


@asynccontextmanager
async def streaming_asgi_transport(app: ASGIApp) -> AsyncIterator[StreamingASGITransport]:
    """A transport into ``app``; on exit, streams still open are cancelled."""
    async with anyio.create_task_group() as tasks:
        try:
            yield StreamingASGITransport(app, tasks)
        finally:
            tasks.cancel_scope.cancel()


class _Exchange:
    """One request/response pair between the httpx caller and the app task."""

    def __init__(self, scope: dict[str, Any], body: bytes) -> None:
        self._scope = scope
        self._body: bytes | None = body
        self._started = anyio.Event()
        self._gone = anyio.Event()
        self._status: int | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._failure = ""
        self._writer, self._reader = anyio.create_memory_object_stream[bytes](BODY_BUFFER_CHUNKS)

    async def run(self, app: ASGIApp) -> None:
        try:
            async with self._writer:
                await app(self._scope, self._receive, self._send)
        except Exception as exc:  # noqa: BLE001 - reported to the caller below, by type only
            self._failure = type(exc).__name__
        finally:
            self._started.set()

    async def response(self, request: httpx.Request) -> httpx.Response:
        try:
            await self._started.wait()
        except BaseException:
            # The caller gave up waiting (its silence limit): nobody will read this response, so
            # the app hears http.disconnect and frees what it holds (an event stream's slot).
            self._gone.set()
            raise
        if self._status is None:
            self._gone.set()
            raise httpx.RemoteProtocolError(f"the in-process app did not answer ({self._failure or 'no response'})",
                                            request=request)
        return httpx.Response(self._status, headers=self._headers, stream=_Body(self._reader, self._gone))

    async def _receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status, self._headers = message["status"], list(message.get("headers", []))
            self._started.set()
            return
        if message["type"] != "http.response.body":
            return
        chunk = message.get("body", b"")
        if chunk and not self._gone.is_set():
            try:
                await self._writer.send(chunk)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._gone.set()  # the caller closed the response; the app hears http.disconnect
        if not message.get("more_body", False):
            self._writer.close()


class _Body(httpx.AsyncByteStream):
    def __init__(self, reader: MemoryObjectReceiveStream[bytes], gone: anyio.Event) -> None:
        self._reader = reader
        self._gone = gone

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._reader:
            yield chunk

    async def aclose(self) -> None:
        self._gone.set()
        self._reader.close()


def _scope(request: httpx.Request) -> dict[str, Any]:
    """The same scope ``httpx.ASGITransport`` builds, so the app cannot tell the two apart."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "headers": [(k.lower(), v) for (k, v) in request.headers.raw],
        "scheme": request.url.scheme,
        "path": request.url.path,
        "raw_path": request.url.raw_path.split(b"?")[0],
        "query_string": request.url.query,
        "server": (request.url.host, request.url.port),
        "client": ("127.0.0.1", 123),
        "root_path": "",
    }
