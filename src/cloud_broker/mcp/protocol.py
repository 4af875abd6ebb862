"""MCP SDK wiring: the low-level ``Server`` that serves an :class:`AwsToolbox`.

Importing this module loads the SDK (~0.7 s on a small machine), so :mod:`server` imports it
in a worker thread while the inventory request is already in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions

from cloud_broker import __version__
from cloud_broker.mcp.tools import AwsToolbox, ToolOutcome, ToolView
from cloud_broker.mcp.watchers import ToolListWatchers

SERVER_NAME = "cloud-broker"


class BrokerMcpServer(Server[Any]):
    """The SDK server, advertising ``tools.listChanged`` whoever asks for its options.

    The in-memory test transport calls ``create_initialization_options()`` without arguments;
    overriding the default keeps the capability true on every path, not only in ``run_stdio``.
    """

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        options = notification_options or NotificationOptions(tools_changed=True)
        return super().create_initialization_options(options, experimental_capabilities, extensions)


def build_server(toolbox: AwsToolbox, watchers: ToolListWatchers, *, warn: Callable[[str], None]) -> BrokerMcpServer:
    """An MCP server exposing ``toolbox``; ``watchers`` learns of every initialized session."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(view) for view in toolbox.listing()])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> dict[str, Any]:
        try:
            outcome = await toolbox.call(params.name, params.arguments)
        except Exception as exc:  # noqa: BLE001 - the model gets a readable error, not a dead session
            # Type only: an unexpected exception's message could carry anything.
            warn(f"internal error in {params.name}: {type(exc).__name__}")
            outcome = ToolOutcome(f"Internal error in the cloud-broker MCP server ({type(exc).__name__})", True)
        return _result(outcome)

    async def initialized(ctx: ServerRequestContext[Any], params: types.NotificationParams) -> None:
        watchers.add(ctx.session)

    server = BrokerMcpServer(SERVER_NAME, version=__version__, on_list_tools=list_tools)
    # Registered by method rather than `on_call_tool=` because the handler returns a wire dict:
    # a success result then carries no `isError` key at all, exactly like the published server.
    server.add_request_handler("tools/call", types.CallToolRequestParams, call_tool)
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)
    return server


def _tool(view: ToolView) -> types.Tool:
    annotations = types.ToolAnnotations(read_only_hint=True) if view.read_only else None
    return types.Tool(
        name=view.name, description=view.description, input_schema=dict(view.input_schema), annotations=annotations
    )


def _result(outcome: ToolOutcome) -> dict[str, Any]:
    # `resultType` is required from 2026-07-28 on and sieved away on older protocol versions.
    result: dict[str, Any] = {"content": [{"type": "text", "text": outcome.text}], "resultType": "complete"}
    if outcome.is_error:
        result["isError"] = True
    return result

