"""MCP SDK wiring of the grant resources: list, read, subscribe and log level (the handshake era's).

Kept apart from :mod:`protocol` so the tool server reads as before; both load the SDK and are
imported off the event loop during start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from cloud_broker.client.errors import BrokerCallError
from cloud_broker.mcp.delivery import SessionPeer
from cloud_broker.mcp.grants import (
    MIME_TYPE,
    URI_PREFIX,
    BadGrantUri,
    GrantResources,
    GrantSummary,
    UnknownGrant,
)

TEMPLATE = f"{URI_PREFIX}{{grant_id}}"


def install(server: Server[Any], grants: GrantResources) -> None:
    """Serve ``grants`` on ``server``: resources (subscribe + listChanged) and ``logging/setLevel``.

    Handlers are added by method: the constructor's ``on_set_logging_level`` warns that logging
    is deprecated (2026-07-28), yet handshake-era clients still rely on it.
    """

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[_resource(summary) for summary in grants.listing()])

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(uri_template=TEMPLATE, name="grant", mime_type=MIME_TYPE,
                                          description="An AWS access grant of this agent, by grant id")
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        try:
            text = await grants.read(params.uri)
        except (BadGrantUri, UnknownGrant) as exc:
            # -32602, as SEP-2164 settles it; -32002 is retired and must not be reused.
            raise MCPError(INVALID_PARAMS, str(exc), {"uri": params.uri}) from None
        except BrokerCallError as exc:
            raise MCPError(INTERNAL_ERROR, str(exc)) from None
        content = types.TextResourceContents(uri=params.uri, mime_type=MIME_TYPE, text=text)
        return types.ReadResourceResult(contents=[content])

    async def subscribe(ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
        _checked(grants.subscribe, SessionPeer(ctx.session), params.uri)
        return types.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        _checked(grants.unsubscribe, SessionPeer(ctx.session), params.uri)
        return types.EmptyResult()

    async def set_level(ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
        grants.set_log_level(SessionPeer(ctx.session), params.level)
        return types.EmptyResult()

    server.add_request_handler("resources/list", types.PaginatedRequestParams, list_resources)
    server.add_request_handler("resources/templates/list", types.PaginatedRequestParams, list_templates)
    server.add_request_handler("resources/read", types.ReadResourceRequestParams, read_resource)
    server.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    server.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)
    server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)


def _checked(action: Callable[[SessionPeer, str], None], peer: SessionPeer, uri: str) -> None:
    try:
        action(peer, uri)
    except BadGrantUri as exc:
        raise MCPError(INVALID_PARAMS, str(exc), {"uri": uri}) from None


def _resource(summary: GrantSummary) -> types.Resource:
    return types.Resource(uri=summary.uri, name=f"grant {summary.grant_id}", title=f"AWS grant ({summary.status})",
                          description=summary.description, mime_type=MIME_TYPE)
