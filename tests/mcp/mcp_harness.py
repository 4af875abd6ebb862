"""Shared helpers for the MCP tests: settings, ids, a connected client session, and the stdio process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp_broker_stub import StubBroker

import cloud_broker
from cloud_broker.client.tokens import TokenSource
from cloud_broker.mcp.server import McpApp, open_app
from cloud_broker.mcp.settings import McpSettings

AGENT_ID = "11111111-1111-4111-8111-111111111111"
RUN_ID = "22222222-2222-4222-8222-222222222222"
PRESET_TOKEN = "preset-jwt-SECRET-0123456789"
API_KEY = "tlk_SECRET_host_key_9876543210"
ACCOUNT = "123456789012"
GRANT = "33333333-3333-4333-8333-333333333333"

SRC = str(Path(cloud_broker.__file__).resolve().parents[1])
COMMAND = [sys.executable, "-m", "cloud_broker.mcp"]


def make_settings(stub: StubBroker, **overrides: Any) -> McpSettings:
    base = McpSettings(host=stub.base_url, agent_id=AGENT_ID, run_id=RUN_ID, token=PRESET_TOKEN)
    return replace(base, **overrides)


def agt_env(stub: StubBroker, **extra: str) -> dict[str, str]:
    """The AGT_* environment of ``python -m cloud_broker.mcp`` against ``stub``; empty values unset."""
    env = {"AGT_HOST": stub.base_url, "AGT_AGENT_ID": AGENT_ID, "AGT_RUN_ID": RUN_ID, "AGT_TOKEN": PRESET_TOKEN}
    env.update(extra)
    return {key: value for key, value in env.items() if value}


def process_env(agt: dict[str, str]) -> dict[str, str]:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return {**base, "PYTHONPATH": SRC, **agt}


@dataclass
class Session:
    """A connected MCP client plus the app behind it and everything written to 'stderr'."""

    client: Client
    app: McpApp
    warnings: list[str]

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> tuple[str, bool]:
        result = await self.client.call_tool(name, arguments)
        assert result.structured_content is None
        assert len(result.content) == 1
        return result.content[0].text, result.is_error

    async def call_json(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        text, is_error = await self.call(name, arguments)
        assert not is_error, text
        return json.loads(text)


@asynccontextmanager
async def connect(
    stub: StubBroker,
    *,
    inventory_wait: float = 1.0,
    message_handler: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
    token_source: TokenSource | None = None,
    **overrides: Any,
) -> AsyncIterator[Session]:
    """Build the server against ``stub`` and drive it through a real in-memory MCP client session."""
    warnings: list[str] = []
    settings = make_settings(stub, **overrides)
    async with open_app(
        settings, transport=transport, token_source=token_source, inventory_wait=inventory_wait, warn=warnings.append
    ) as app, Client(app.server, mode="legacy", message_handler=message_handler) as client:
        yield Session(client, app, warnings)
