"""MCP SDK wiring: the low-level ``Server`` that serves a :class:`Toolbox`.

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
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    SubscriptionBus,
)

from cloud_broker import __version__
from cloud_broker.mcp.changes import ChangeFanout
from cloud_broker.mcp.delivery import SessionPeer, install_listen
from cloud_broker.mcp.grants import GrantResources
from cloud_broker.mcp.resources import install
from cloud_broker.mcp.tools import Toolbox, ToolOutcome, ToolView

SERVER_NAME = "cloud-broker"


class BrokerMcpServer(Server[Any]):
    """The SDK server, advertising ``tools.listChanged`` whoever asks for its options.

    The in-memory test transport calls ``create_initialization_options()`` without arguments;
    overriding the default keeps the capability true on every path, not only in ``run_stdio``.
    ``resources.listChanged`` follows the same rule once grant resources are served. That is the
    handshake era; at 2026-07-28 the SDK derives both (and ``resources.subscribe``) from
    ``subscriptions/listen`` being served, which :func:`build_server` always does.
    """

    bus: SubscriptionBus
    """Where 2026-07-28 listen streams take their change events from (set by :func:`build_server`)."""
    listen: ListenHandler
    """Serves ``subscriptions/listen``; ``close()`` ends every open stream gracefully."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        serves_resources = self.get_request_handler("resources/list") is not None
        options = notification_options or NotificationOptions(tools_changed=True, resources_changed=serves_resources)
        return super().create_initialization_options(options, experimental_capabilities, extensions)


def build_server(
    toolbox: Toolbox,
    fanout: ChangeFanout,
    *,
    warn: Callable[[str], None],
    grants: GrantResources | None = None,
    bus: SubscriptionBus | None = None,
) -> BrokerMcpServer:
    """An MCP server exposing ``toolbox``, whose changes reach clients of both protocol eras.

    ``fanout`` learns of every initialized (handshake-era) session and publishes on ``bus`` (an
    in-process one unless given), which serves 2026-07-28 ``subscriptions/listen`` streams.
    With ``grants``, grants are served as ``grant://`` resources too.
    """

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
        # Handshake era only: a 2026-07-28 client sends no `initialized`; it opens a listen stream.
        fanout.join(SessionPeer(ctx.session))

    server = BrokerMcpServer(SERVER_NAME, version=__version__, on_list_tools=list_tools)
    # Registered by method rather than `on_call_tool=` because the handler returns a wire dict:
    # a success result then carries no `isError` key at all, exactly like the published server.
    server.add_request_handler("tools/call", types.CallToolRequestParams, call_tool)
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)
    if grants is not None:
        install(server, grants)
    server.bus = bus if bus is not None else InMemorySubscriptionBus()
    server.listen = install_listen(server, fanout, server.bus, serves_resources=grants is not None)
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

