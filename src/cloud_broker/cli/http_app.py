"""The HTTP face of ``cloud-broker serve``: the agent API, the approver console, MCP over
streamable HTTP at ``/mcp`` and Slack's interactivity endpoint, composed here because the edges
do not know about each other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cloud_broker.api.tokens import TokenIssuer
    from cloud_broker.cli.wiring import Wired
    from cloud_broker.mcp.http_endpoint import McpHttpEndpoint, SessionLimits
    from cloud_broker.service.broker import Broker

MCP_PATH = "/mcp"


def build_app(wired: Wired) -> FastAPI:
    from cloud_broker.api.app import create_app
    from cloud_broker.api.routes_ops import Operations
    from cloud_broker.web import install_console

    operations = None
    if wired.metrics is not None and wired.readiness is not None:
        operations = Operations(wired.metrics, wired.readiness)
    app = create_app(wired.broker, wired.tokens, operations=operations)
    install_console(app, wired.broker, wired.secrets)
    mount_mcp(app, wired.broker, wired.tokens)
    signing_secret = wired.slack_signing_secret
    slack = wired.config.notifications.slack
    if signing_secret and slack is not None:
        from urllib.parse import urlsplit

        from cloud_broker.notify.slack_routes import SLACK_REPLY_HOSTS, slack_router

        # Replies go to Slack itself, or to the Slack-compatible server the config points at.
        api_host = urlsplit(slack.api_base_url).hostname
        hosts = SLACK_REPLY_HOSTS | ({api_host} if api_host else set())
        app.include_router(slack_router(signing_secret, reply_hosts=frozenset(hosts)))
    return app


def mount_mcp(app: FastAPI, broker: Broker, tokens: TokenIssuer, limits: SessionLimits | None = None) -> McpHttpEndpoint:
    """Serve MCP sessions at ``/mcp`` behind the host-token guard; the sessions live in the app's
    lifespan (uvicorn enters it), and their broker calls go into ``app`` in-process."""
    from starlette.routing import Route

    from cloud_broker.api.host_guard import HostAgentGuard
    from cloud_broker.api.limits import MAX_BODY_BYTES
    from cloud_broker.mcp.http_endpoint import McpHttpEndpoint, SessionLimits

    endpoint = McpHttpEndpoint(app, limits or SessionLimits(body_bytes=MAX_BODY_BYTES))
    # An ASGI app as the endpoint: Starlette passes requests through untouched (SSE included).
    app.router.routes.append(Route(MCP_PATH, HostAgentGuard(endpoint, broker, tokens),
                                   methods=["GET", "POST", "DELETE"], include_in_schema=False))
    before = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        # Around whatever lifespan the app already had, not instead of it.
        async with before(app_) as state, endpoint.run():
            yield state

    app.router.lifespan_context = lifespan
    return endpoint
