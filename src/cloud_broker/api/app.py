"""The app factory: everything the API needs is passed in; nothing is read from globals."""

from __future__ import annotations

from fastapi import FastAPI

from cloud_broker import __version__
from cloud_broker.api import routes_aws, routes_events, routes_host
from cloud_broker.api.errors import ERROR_RESPONSES, install_error_handlers
from cloud_broker.api.limits import BodyLimit
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.service.broker import Broker


def create_app(broker: Broker, tokens: TokenIssuer) -> FastAPI:
    app = FastAPI(
        title="cloud-broker API",
        version=__version__,
        description="Scoped, short-lived cloud credentials for AI agents.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.broker = broker
    app.state.tokens = tokens
    app.state.event_streams = routes_events.StreamSlots()
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    for router in (routes_host.router, routes_aws.router, routes_events.router):
        app.include_router(router, responses=ERROR_RESPONSES)
    return app
