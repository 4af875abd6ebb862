"""An MCP client session against a real broker app, wired as ``cloud-broker mcp --config`` does it:
the app in-process behind the streaming ASGI transport, tokens signed locally, grant events on."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from cloud_broker.cli.mcp_cmd import EMBEDDED_URL, LocalTokenSource
from cloud_broker.mcp.asgi_stream import streaming_asgi_transport
from cloud_broker.mcp.server import McpApp, open_app
from cloud_broker.mcp.settings import McpSettings

WAIT_SECONDS = 30


@dataclass
class Heard:
    """Every notification the client received, and a way to wait for one."""

    updated: list[str] = field(default_factory=list)
    list_changed: int = 0
    logs: list[types.LoggingMessageNotificationParams] = field(default_factory=list)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    async def on_message(self, message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.updated.append(message.params.uri)
        elif isinstance(message, types.ResourceListChangedNotification):
            self.list_changed += 1
        elif isinstance(message, types.LoggingMessageNotification):
            self.logs.append(message.params)
        else:
            return
        self._changed.set()

    def log_for(self, grant_id: str, status: str) -> types.LoggingMessageNotificationParams | None:
        return next((log for log in self.logs if log.data.get("grant_id") == grant_id
                     and log.data.get("status") == status), None)

    async def log_when(self, grant_id: str, status: str) -> types.LoggingMessageNotificationParams:
        """Wait (at most WAIT_SECONDS) for the log message of ``grant_id`` reaching ``status``."""
        with anyio.fail_after(WAIT_SECONDS):
            while (found := self.log_for(grant_id, status)) is None:
                self._changed = anyio.Event()
                await self._changed.wait()
        return found


@dataclass
class Embedded:
    client: Client
    app: McpApp
    heard: Heard
    warnings: list[str]
    run_id: str

    async def subscribe(self, uri: str) -> None:
        with warnings.catch_warnings():  # the SDK marks the 2025-era method deprecated
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await self.client.subscribe_resource(uri)

    async def unsubscribe(self, uri: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await self.client.unsubscribe_resource(uri)


@asynccontextmanager
async def connect_embedded(
    app: Any,
    tokens: Any,
    agent_id: str,
    host: str = "host-a",
    *,
    mode: str = "legacy",
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    wait_live: bool = True,
) -> AsyncIterator[Embedded]:
    """Open the MCP server on ``app`` and a client on it; returns once the event stream is live.

    ``mode`` is the client's: ``"legacy"`` shakes hands (2025-era), ``"auto"`` discovers 2026-07-28.
    ``wrap`` may stand between the server and the app (to make the broker misbehave); with
    ``wait_live`` False the session is handed over before the event stream is live."""
    heard = Heard()
    warned: list[str] = []
    settings = McpSettings(host=EMBEDDED_URL, agent_id=agent_id, run_id=str(uuid.uuid4()))
    async with streaming_asgi_transport(app) as inner:
        transport = wrap(inner) if wrap is not None else inner
        async with (
            open_app(settings, transport=transport, token_source=LocalTokenSource(tokens, host), warn=warned.append,
                     grant_events=True) as mcp_app,
            Client(mcp_app.server, mode=mode, message_handler=heard.on_message) as client,
        ):
            assert mcp_app.events is not None
            if wait_live:
                with anyio.fail_after(WAIT_SECONDS):
                    await mcp_app.events.live.wait()
            yield Embedded(client, mcp_app, heard, warned, settings.run_id)
