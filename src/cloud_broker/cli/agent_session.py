"""An MCP client session against ``cloud-broker mcp``, as an agent runtime would hold one."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from cloud_broker.cli.sandbox_process import child_env


@dataclass(frozen=True)
class ToolReply:
    is_error: bool
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class AgentSession:
    """Calls tools and hands back the text the model would read."""

    def __init__(self, session: Any) -> None:
        self._session = session

    @property
    def session(self) -> Any:
        """The SDK's ClientSession, for resources and other requests beyond tools."""
        return self._session

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> ToolReply:
        result = await self._session.call_tool(tool, arguments or {})
        text = "".join(getattr(item, "text", "") for item in result.content)
        return ToolReply(bool(result.is_error), text)

    async def tool_names(self) -> list[str]:
        return [tool.name for tool in (await self._session.list_tools()).tools]


@asynccontextmanager
async def agent_session(
    env: dict[str, str], *, errlog: Any = None, command: list[str] | None = None, **session_options: Any
) -> AsyncIterator[AgentSession]:
    """Spawn an MCP server (``cloud-broker mcp`` unless ``command`` names another) with ``env``
    (the AGT_* variables) and initialise a session. ``session_options`` go to the SDK's
    ClientSession (e.g. ``message_handler`` to see server notifications)."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command = command or [sys.executable, "-m", "cloud_broker", "mcp"]
    params = StdioServerParameters(command=command[0], args=command[1:], env=child_env(**env))
    async with stdio_client(params, errlog=errlog or sys.stderr) as (read, write):
        async with ClientSession(read, write, **session_options) as session:
            await session.initialize()
            yield AgentSession(session)
