"""A raw streamable-HTTP MCP client against ``/mcp`` of a real broker app, wired as ``serve`` wires it.

The app runs in this process (the streaming ASGI transport of the embedded mode), with the
endpoint's lifespan open. Requests are plain JSON-RPC over HTTP, so tests see the exact wire.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from cloud_broker.api.app import create_app
from cloud_broker.cli.http_app import MCP_PATH, mount_mcp
from cloud_broker.mcp.asgi_stream import streaming_asgi_transport
from cloud_broker.mcp.http_endpoint import McpHttpEndpoint, SessionLimits
from tests.api.conftest import BrokerUnderTest

ACCEPT = "application/json, text/event-stream"
HANDSHAKE_VERSION = "2025-11-25"
INITIALIZE = {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}


def messages(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether it came as JSON or as an event stream."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]


@dataclass
class Session:
    """One open MCP session: its id and the headers every request of it carries."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    session_id: str
    initialized: dict[str, Any]
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(2))

    async def post(self, message: dict[str, Any], **headers: str) -> httpx.Response:
        sent = {**self.headers, "Mcp-Session-Id": self.session_id, "Mcp-Protocol-Version": HANDSHAKE_VERSION,
                **headers}
        return await self.http.post(MCP_PATH, json=message, headers=sent)

    async def rpc(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result of ``method``; fails the test on an error answer."""
        ident = next(self._ids)
        response = await self.post({"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}})
        assert response.status_code == 200, response.text
        reply = next(m for m in messages(response) if m.get("id") == ident)
        assert "result" in reply, reply
        return reply["result"]  # type: ignore[no-any-return]

    async def delete(self) -> httpx.Response:
        return await self.http.delete(MCP_PATH, headers={**self.headers, "Mcp-Session-Id": self.session_id})


@dataclass
class HttpMcp:
    http: httpx.AsyncClient
    endpoint: McpHttpEndpoint
    bt: BrokerUnderTest

    def headers(self, host: str = "host-a", agent_id: str | None = None) -> dict[str, str]:
        return {**self.bt.headers(host), "X-Agent-Id": agent_id or self.bt.agent_id, "Accept": ACCEPT}

    async def initialize(self, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(MCP_PATH, json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                                    "params": INITIALIZE}, headers=headers)

    async def open(self, host: str = "host-a", agent_id: str | None = None) -> Session:
        """Initialize a session and send ``initialized``, as a handshake-era client does."""
        headers = self.headers(host, agent_id)
        response = await self.initialize(headers)
        assert response.status_code == 200, response.text
        session = Session(self.http, headers, response.headers["mcp-session-id"], messages(response)[0]["result"])
        done = await session.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert done.status_code == 202, done.text
        return session


class BearerLog:
    """ASGI middleware noting the bearer of every broker API call (``/mcp`` requests left out)."""

    def __init__(self, app: Any, seen: list[tuple[str, str]]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != MCP_PATH:
            bearer = dict(scope["headers"]).get(b"authorization", b"").decode().partition(" ")[2]
            self.seen.append((scope["path"], bearer))
        await self.app(scope, receive, send)


@asynccontextmanager
async def http_mcp(bt: BrokerUnderTest, limits: SessionLimits | None = None,
                   bearers: list[tuple[str, str]] | None = None) -> AsyncIterator[HttpMcp]:
    """``/mcp`` mounted on the broker app of ``bt``, its lifespan open, and a client on it;
    ``bearers`` collects the token each in-process broker call carried."""
    app = create_app(bt.broker, bt.tokens)
    if bearers is not None:
        app.add_middleware(BearerLog, seen=bearers)
    endpoint = mount_mcp(app, bt.broker, bt.tokens, limits)
    async with (
        endpoint.run(),
        streaming_asgi_transport(app) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http,
    ):
        yield HttpMcp(http, endpoint, bt)


async def notifications(session: Session) -> AsyncIterator[dict[str, Any]]:
    """The session's standalone GET stream, message by message (server notifications)."""
    headers = {**session.headers, "Mcp-Session-Id": session.session_id, "Mcp-Protocol-Version": HANDSHAKE_VERSION,
               "Accept": "text/event-stream"}
    async with session.http.stream("GET", MCP_PATH, headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:") and line[5:].strip():
                yield json.loads(line[5:])
